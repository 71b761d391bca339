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
  var baseFetcher = GraphiQL.createFetcher({
    url: fetchURL,
    subscriptionUrl: subscriptionURL.toString(),
  });

  // GraphiQL's own introspection query follows type wrappers nine levels deep, past the
  // API's depth limit (CARERECORD_MAX_QUERY_DEPTH, 10 by default), so it is refused with
  // QUERY_TOO_DEEP. This one asks the same questions but follows four wrappers, which is
  // enough for every type in the schema (the deepest is [X!]!) and fits under the limit.
  var INTROSPECTION_QUERY = [
    "query IntrospectionQuery {",
    "  __schema {",
    "    queryType { name }",
    "    mutationType { name }",
    "    subscriptionType { name }",
    "    types { ...FullType }",
    "    directives {",
    "      name",
    "      description",
    "      locations",
    "      args(includeDeprecated: true) { ...InputValue }",
    "    }",
    "  }",
    "}",
    "fragment FullType on __Type {",
    "  kind",
    "  name",
    "  description",
    "  specifiedByURL",
    "  fields(includeDeprecated: true) {",
    "    name",
    "    description",
    "    args(includeDeprecated: true) { ...InputValue }",
    "    type { ...TypeRef }",
    "    isDeprecated",
    "    deprecationReason",
    "  }",
    "  inputFields(includeDeprecated: true) { ...InputValue }",
    "  interfaces { ...TypeRef }",
    "  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }",
    "  possibleTypes { ...TypeRef }",
    "}",
    "fragment InputValue on __InputValue {",
    "  name",
    "  description",
    "  type { ...TypeRef }",
    "  defaultValue",
    "  isDeprecated",
    "  deprecationReason",
    "}",
    "fragment TypeRef on __Type {",
    "  kind",
    "  name",
    "  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }",
    "}"
  ].join("\n");

  // GraphiQL fetches the schema (for the docs and autocompletion) on start - with the
  // template's placeholder, which the API refuses - and again whenever its fetcher
  // changes. So a new Authorization header brings a new fetcher, and the schema with it.
  function newFetcher() {
    return function (params, options) {
      if (params.operationName === "IntrospectionQuery") {
        params = Object.assign({}, params, { query: INTROSPECTION_QUERY });
      }
      return baseFetcher(params, options);
    };
  }

  function authorizationOf(headers) {
    try {
      var parsed = JSON.parse(headers || "{}");
      return parsed && typeof parsed === "object"
        ? parsed.Authorization || parsed.authorization
        : undefined;
    } catch (error) {
      return undefined;
    }
  }

  function CareRecordGraphiQL() {
    var query = React.useState(parameters.q || EXAMPLE_QUERY);
    var variables = React.useState(parameters.variables);
    var fetcher = React.useState(newFetcher);
    var authorization = React.useRef(authorizationOf(HEADERS_TEMPLATE));
    var pending = React.useRef(null);

    function onEditHeaders(value) {
      clearTimeout(pending.current);
      pending.current = setTimeout(function () {
        var next = authorizationOf(value);
        if (next && next !== authorization.current) {
          authorization.current = next;
          fetcher[1](newFetcher);
        }
      }, 300);
    }

    return React.createElement(GraphiQL, {
      fetcher: fetcher[0],
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
      onEditHeaders: onEditHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(CareRecordGraphiQL));
})();
