// Strata API docs: renders the OpenAPI document named by the data-spec-url
// attribute of #swagger-ui with the Swagger UI bundle loaded before it.
// Kept out of the page so the page needs no inline script.
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.getAttribute("data-spec-url"),
    domNode: el,
    deepLinking: true,
    validatorUrl: null, // no calls to validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
