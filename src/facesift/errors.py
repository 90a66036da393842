"""Errors that users see. Each carries a stable ``code`` so scripts can branch on it."""


class FacesiftError(Exception):
    """Base class: a problem we can explain to the user in one sentence."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ImageError(FacesiftError):
    """A file could not be turned into pixels. ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # raised in a probe analysis process, re-raised in the server
        return (type(self), (self.code, self.message))


class ManifestError(FacesiftError):
    code = "bad_manifest"


class SourceError(FacesiftError):
    """A path given to ingest cannot be read as a folder, archive or image."""

    code = "bad_source"


class SearchRefused(FacesiftError):
    """A search that the governance rules do not allow."""

    code = "search_refused"


class NotFound(FacesiftError):
    code = "not_found"


class InvalidInput(FacesiftError):
    """A request whose values cannot be used (a missing field, a bad date, an unknown id)."""

    code = "invalid"


class Unauthenticated(FacesiftError):
    """No signed-in user, or credentials that do not check out."""

    code = "unauthenticated"


class Forbidden(FacesiftError):
    """A signed-in user asking for something their roles do not allow. Says which rule."""

    code = "forbidden"


class Conflict(FacesiftError):
    """A request that clashes with the current state (a name taken, a review already given)."""

    code = "conflict"


class AlreadyHeld(Conflict):
    """A photo whose content the gallery already holds: each photo is stored once."""

    code = "already_held"


class RateLimited(FacesiftError):
    code = "rate_limited"


class Busy(FacesiftError):
    """The server cannot take this work now without running out of a resource (503)."""

    code = "busy"

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after
