"""The FastAPI application."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import models  # noqa: F401  (creates the system tables)
from app.routers import assistant, conversations, orgs, search
from app.services import ServiceError

app = FastAPI(title="Council")
app.include_router(orgs.router)
app.include_router(conversations.router)
app.include_router(assistant.router)
app.include_router(search.router)


@app.exception_handler(ServiceError)
def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
