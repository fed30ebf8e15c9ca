"""County accounts: roles, capabilities, passwords and case scope (``service``); login with
its second factor, the home page and the account screens (``views``)."""
