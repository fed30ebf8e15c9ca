"""The fleet of township nodes: per-node sync figures (``service``) and the fleet page
(``views``)."""
