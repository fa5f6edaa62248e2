// Following a run's events as they are stored: /runs/<id>/events (server-sent events).
// The browser reconnects by itself with Last-Event-ID, so nothing is read twice or missed;
// batches are handed on once per animation frame, however fast events arrive.

/** An event as the stream sends it (EventRecord fields) in the shape GraphQL's Event has. */
export function fromStream(raw) {
  return {
    cursor: String(raw.storage_id), eventType: raw.event_type, timestamp: raw.timestamp,
    stepKey: raw.step_key, attempt: raw.attempt, level: raw.level, message: raw.message, data: raw.data || {},
  };
}

/**
 * Follow `runId` from the event after `afterCursor` (null: from the first event).
 * `onEvents(list)` gets events in order; `onEnd()` once the run's last event is in.
 * Returns a function that stops following.
 */
export function followRunEvents(runId, afterCursor, { onEvents, onEnd, onState }) {
  const query = afterCursor ? `?after=${encodeURIComponent(afterCursor)}` : "";
  const source = new EventSource(`/runs/${encodeURIComponent(runId)}/events${query}`);
  let pending = [];
  let scheduled = false;
  let ended = false;

  const flush = () => {
    scheduled = false;
    if (pending.length) {
      const batch = pending;
      pending = [];
      onEvents(batch);
    }
    if (ended) onEnd();
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      // A background tab gets no animation frames: fall back to a timer there.
      if (document.hidden) setTimeout(flush, 100);
      else requestAnimationFrame(flush);
    }
  };

  source.addEventListener("run_event", (message) => {
    pending.push(fromStream(JSON.parse(message.data)));
    schedule();
  });
  source.addEventListener("end", () => {
    source.close();
    ended = true;
    onState?.("ended");
    schedule();
  });
  source.addEventListener("open", () => onState?.("open"));
  source.addEventListener("error", () => {
    // EventSource retries on its own; say so while it does.
    if (!ended) onState?.(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  });
  return () => {
    ended = true;
    source.close();
  };
}
