from fastapi import APIRouter, HTTPException

router = APIRouter(prefix="/users", tags=["users"])

USERS = {1: "Ada", 2: "Grace"}


@router.get("/")
def list_users() -> dict[int, str]:
    return USERS


@router.get("/{user_id}")
def read_user(user_id: int) -> dict[str, str | int]:
    if user_id not in USERS:
        raise HTTPException(status_code=404, detail="no such user")
    return {"id": user_id, "name": USERS[user_id]}
