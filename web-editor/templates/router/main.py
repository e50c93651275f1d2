from fastapi import FastAPI

from users import router as users_router

app = FastAPI(title="router")
app.include_router(users_router)


@app.get("/")
def root() -> dict[str, str]:
    return {"try": "/users/1"}
