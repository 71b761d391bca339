// carerecord's GraphiQL bootstrap (dev mode only). Strawberry's inline page script, moved
// into a file so that the page's Content-Security-Policy can refuse every inline script.
// Differences from strawberry's: no CSRF cookie (the API takes bearer tokens, never
// cookies); the headers editor starts with an Authorization template; headers are never
// read from the URL nor kept in localStorage (a token is a credential).
(function () {
  "use strict";

  var EXAMPLE_QUERY = [
    "# carerecord GraphiQL (dev mode).",
    "#",
    "# 1. Get a token:  carerecord token --dev --practitioner dn-sarah-jones",
    "# 2. Paste it into the Headers tab below, after \"Bearer \".",
    "# 3. Run the query: Ctrl-Enter, or the play button.",
    "#",
    "{",
    "  me {",
    "    kind",
    "    name",
    "    profession",
    "    agency { name }",
    "  }",
    "}",
    "",
  ].join("\n");

  var HEADERS_TEMPLATE = JSON.stringify(
    { Authorization: "Bearer PASTE-YOUR-TOKEN-HERE" },
    null,
    2,
  );

  var parameters = {};
  window.location.search
    .slice(1)
    .split("&")
    .forEach(function (entry) {
      var eq = entry.indexOf("=");
      if (eq >= 0) {
        parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(
          entry.slice(eq + 1),
        );
      }
    });

  // Only the query and its variables go into the URL, so a page can be shared.
  function updateURL(data) {
    Object.assign(parameters, data);
    var search = Object.keys(parameters)
      .filter(function (key) {
        return (key === "q" || key === "variables") && Boolean(parameters[key]);
      })
      .map(function (key) {
        return encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]);
      })
      .join("&");
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var fetchURL = window.location.origin + window.location.pathname;
  var subscriptionURL = new URL(fetchURL);
  subscriptionURL.protocol = subscriptionURL.protocol === "https:" ? "wss:" : "ws:";

  // GraphiQL sends the headers editor's headers with every POST, and as the
  // connection_init payload of a subscription's WebSocket (where the API reads the token).
  var fetcher = GraphiQL.createFetcher({
    url: fetchURL,
    subscriptionUrl: subscriptionURL.toString(),
  });

  function CareRecordGraphiQL() {
    var query = React.useState(parameters.q || EXAMPLE_QUERY);
    var variables = React.useState(parameters.variables);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: "headers",
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      query: query[0],
      variables: variables[0],
      defaultHeaders: HEADERS_TEMPLATE,
      onEditQuery: function (value) {
        query[1](value);
        updateURL({ q: value });
      },
      onEditVariables: function (value) {
        variables[1](value);
        updateURL({ variables: value });
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(CareRecordGraphiQL));
})();
