"""The one exception type the command line turns into a one-line error."""


class KscribeError(Exception):
    """A failure the user can act on.

    The message is a single line naming the file, value or tool at fault and what to do about
    it; the command line prints it as ``kscribe: error: <message>`` and exits non-zero.
    """
