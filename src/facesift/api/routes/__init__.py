"""The JSON API, under ``/api``, plus ``/healthz`` and ``/audit/export``."""

from fastapi import APIRouter

from facesift.api.routes import (
    account_security,
    accounts,
    audit,
    cases,
    evaluations,
    gallery,
    optout,
    oversight,
    probe_faces,
)

router = APIRouter()
router.include_router(accounts.router)
router.include_router(account_security.router)
router.include_router(cases.router)
router.include_router(audit.router)
router.include_router(evaluations.router)
router.include_router(optout.router)
router.include_router(oversight.router)
router.include_router(probe_faces.router)
router.include_router(gallery.router)
