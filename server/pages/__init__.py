"""The clinicians' pages: the team's alert work list in a browser, and the page every
notification links to (``/alerts/{id}``).

Server-rendered HTML with no JavaScript, so they work on locked-down trust desktops and
phones alike, and every action is an ordinary form post that the server audits exactly as
it audits the API.
"""
