"""`opgraph dev`: the processes it runs (`stack`, `processes`, `broker`), how it talks to
them (`client`), and what it shows (`runs`, `report`); `session` ties them together."""
