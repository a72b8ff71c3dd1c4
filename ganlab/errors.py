"""One exception type for every problem a user can fix (bad params, bad data, bad checkpoint).

Stages catch it and print the message alone: a traceback would bury the one line that matters.
"""


class GanlabError(Exception):
    """A problem with the user's input, reported with a message that names what is wrong."""
