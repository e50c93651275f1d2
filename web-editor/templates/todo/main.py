"""An in-memory todo list: create, list, read, update and delete todos.

The list lives in memory, so it starts empty again whenever the app restarts.
"""

from datetime import datetime, timezone
from uuid import UUID, uuid4

from fastapi import FastAPI, HTTPException, status
from pydantic import BaseModel, Field

app = FastAPI(title="todo")


class TodoIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    done: bool = False


class TodoUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    done: bool | None = None


class Todo(TodoIn):
    id: UUID
    created_at: datetime


todos: dict[UUID, Todo] = {}


def get_or_404(todo_id: UUID) -> Todo:
    todo = todos.get(todo_id)
    if todo is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="todo not found")
    return todo


@app.get("/todos")
def list_todos(done: bool | None = None) -> list[Todo]:
    items = sorted(todos.values(), key=lambda t: t.created_at)
    if done is not None:
        items = [t for t in items if t.done == done]
    return items


@app.post("/todos", status_code=status.HTTP_201_CREATED)
def create_todo(todo: TodoIn) -> Todo:
    new = Todo(id=uuid4(), created_at=datetime.now(timezone.utc), **todo.model_dump())
    todos[new.id] = new
    return new


@app.get("/todos/{todo_id}")
def read_todo(todo_id: UUID) -> Todo:
    return get_or_404(todo_id)


@app.patch("/todos/{todo_id}")
def update_todo(todo_id: UUID, changes: TodoUpdate) -> Todo:
    todo = get_or_404(todo_id)
    updated = todo.model_copy(update=changes.model_dump(exclude_unset=True, exclude_none=True))
    todos[todo_id] = updated
    return updated


@app.delete("/todos/{todo_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_todo(todo_id: UUID) -> None:
    get_or_404(todo_id)
    del todos[todo_id]
