// The GraphiQL page: mounts the vendored GraphiQL on #graphiql.
// The URL's query, variables and operationName are read here, as data, and handed to
// React as props: nothing from the URL is ever written into the page's HTML or a script.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var params = new URLSearchParams(window.location.search);
  var fetcher = GraphiQL.createFetcher({ url: root.dataset.endpoint });

  function keepInUrl(name) {
    return function (value) {
      var next = new URLSearchParams(window.location.search);
      if (value) next.set(name, value);
      else next.delete(name);
      history.replaceState(null, "", "?" + next.toString());
    };
  }

  var props = {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    onEditQuery: keepInUrl("query"),
    onEditVariables: keepInUrl("variables"),
  };
  if (params.has("query")) props.query = params.get("query");
  if (params.has("variables")) props.variables = params.get("variables");
  if (params.has("operationName")) props.operationName = params.get("operationName");
  root.textContent = "";
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
