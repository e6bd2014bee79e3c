"""The front door for newcomers: a network's join pages, where someone volunteers as a mentor or
applies as a mentee; the email confirmation; and the coordinators' queue of newcomers."""
