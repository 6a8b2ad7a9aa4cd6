"""What every menus adapter shares: one request's session, a unit of work per change.

The engine saves its Redis state right after a port call, so each mutating call
commits before returning or rolls back and raises. A domain refusal becomes the
port's own (`ServiceRefused` or its lender, savings or insurance kind) with a reason
the flows can tell the member; anything else is rolled back and raised as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar, TypeVar

from sqlalchemy.orm import Session

from menus.ports import ServiceRefused

T = TypeVar("T")


class DomainAdapter:
    """A port over the domain in the request's session (shared by all the ports)."""

    refusals: ClassVar[tuple[type[Exception], ...]] = ()
    """The domain errors a change may end in that the member is told about."""
    read_refusals: ClassVar[tuple[type[Exception], ...]] = ()
    """The same for reads (`_call`)."""

    def __init__(self, session: Session | Callable[[], Session]) -> None:
        # a factory: the session is made when first used (many USSD steps use none)
        self._session = session

    @property
    def session(self) -> Session:
        if not isinstance(self._session, Session):
            self._session = self._session()
        return self._session

    def refused(self, error: Exception) -> ServiceRefused:
        """The port's refusal for a domain error (the generic one unless a port says more)."""
        return ServiceRefused("service_unavailable")

    @contextmanager
    def _unit(self, commit: Callable[[], bool] | None = None) -> Iterator[None]:
        """Commit what the block did, or roll it back and explain the refusal.

        `commit`, asked once the block is done: False when the block wrote nothing (the
        domain says so), so there is nothing to commit and the transaction goes on.
        """
        try:
            yield
            if commit is None or commit():
                self.session.commit()
        except self.refusals as exc:
            self.session.rollback()
            raise self.refused(exc) from None
        except Exception:
            self.session.rollback()
            raise

    def _call(self, read: Callable[[], T]) -> T:
        """A read, its domain refusals in the port's terms."""
        try:
            return read()
        except self.read_refusals as exc:
            raise self.refused(exc) from None
