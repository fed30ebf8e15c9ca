"""Data-exchange API for county and provincial platforms (/api/v1, issue #8).

``tokens``: API tokens with scopes (hashed at rest); ``openapi``: the OpenAPI 3 document;
``views``: the routes. See docs/hub-face.md.
"""
