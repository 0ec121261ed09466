"""The exception types ferkit raises for problems a user can act on."""


class FerkitError(Exception):
    """A problem with the user's input or setup, with a message that says what to do."""


class DatasetError(FerkitError):
    """A dataset is missing, malformed, or laid out differently from what the reader expects."""


class ImageError(FerkitError):
    """An image or video could not be read or is in an unsupported format."""


class ImageTooLargeError(ImageError):
    """An image whose size (pixels or bytes) is over the limit it was read under."""
