import asyncio
import logging
from datetime import datetime, timezone

from fastapi import BackgroundTasks, FastAPI

app = FastAPI()
log = logging.getLogger(__name__)
notifications: list[str] = []


def write_notification(email: str, message: str = "") -> None:
    stamp = datetime.now(timezone.utc).isoformat()
    notifications.append(f"{stamp} {email}: {message}")


async def slow_audit(event: str) -> None:
    await asyncio.sleep(0.1)
    log.warning("audited %s", event)


@app.post("/send-notification/{email}")
async def send_notification(email: str, background_tasks: BackgroundTasks):
    background_tasks.add_task(write_notification, email, message="some notification")
    background_tasks.add_task(slow_audit, f"notify:{email}")
    return {"message": "Notification sent in the background"}


@app.get("/notifications")
async def list_notifications(limit: int = 10):
    results = await asyncio.gather(*(asyncio.sleep(0, result=n) for n in notifications[-limit:]))
    return {"notifications": results}


@app.get("/wait")
async def wait(seconds: float = 0.5):
    try:
        async with asyncio.timeout(2):
            await asyncio.sleep(min(seconds, 1.0))
    except TimeoutError:
        return {"waited": False}
    return {"waited": True}
