"""Staff accounts on the node: users, roles, passwords and sign-in (``users``)."""
