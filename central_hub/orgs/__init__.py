"""The org hierarchy (county, departments, townships, villages): the tree and its rules
(``service``); the org-unit, duty and node-assignment screens (``views``)."""
