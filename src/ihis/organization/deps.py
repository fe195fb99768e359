"""FastAPI dependencies of the organization routers: who is calling, the file store, the tenant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from ihis.identity.access import Actor, Permission, current_actor
from ihis.identity.sessions import authenticate_request
from ihis.organization.applicant_sessions import authenticate_applicant
from ihis.platform.errors import Forbidden, Unauthenticated
from ihis.platform.http import ReadDb, institution_code
from ihis.tenancy.models import Institution
from ihis.tenancy.service import institution_by_code


def require_any(*permissions: Permission) -> Callable[[Request], Actor]:
    """A dependency that lets through staff holding at least one of ``permissions``."""

    def dependency(request: Request) -> Actor:
        actor = current_actor(request)
        if not actor.is_staff or not any(actor.can(p) for p in permissions):
            raise Forbidden(extra={"missing_permissions": [str(p) for p in permissions]})
        return actor

    dependency.__name__ = "require_any_" + "_".join(p.name.lower() for p in permissions)
    return dependency


def profile_owner(request: Request) -> Actor:
    """A signed-in staff member who may edit their own profile, or a pending applicant."""
    if authenticate_request(request) is None:
        applicant = authenticate_applicant(request)
        if applicant is None:
            raise Unauthenticated()
        return applicant
    actor = current_actor(request)
    if not actor.is_staff or not actor.can(Permission.PROFILE_EDIT_OWN):
        raise Forbidden(extra={"missing_permissions": [str(Permission.PROFILE_EDIT_OWN)]})
    return actor


def public_institution(request: Request, db: ReadDb) -> Institution:
    """The institution an anonymous request names (``X-IHIS-Institution``, else the default)."""
    return institution_by_code(db, institution_code(request))


ProfileOwner = Annotated[Actor, Depends(profile_owner)]
PublicInstitution = Annotated[Institution, Depends(public_institution)]
OrgReader = Annotated[Actor, Depends(require_any(Permission.ORG_READ, Permission.ORG_MANAGE))]
OrgManager = Annotated[Actor, Depends(require_any(Permission.ORG_MANAGE))]
StaffReader = Annotated[Actor, Depends(require_any(Permission.STAFF_READ, Permission.ORG_MANAGE))]
Reviewer = Annotated[Actor, Depends(require_any(Permission.PROFILE_REVIEW))]
DisclosureManager = Annotated[Actor, Depends(require_any(Permission.DISCLOSURE_MANAGE))]
