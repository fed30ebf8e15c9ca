"""The public portal (``views``, ``service``), its staff screens (``staff``) and online
applications (``apply``)."""
