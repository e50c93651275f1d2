// The gallery: each template is real files under templates/ (checked by
// `gofast check` like any app), bundled as text. The todo app is the
// repository's own example, not a copy.
import type { SourceFile } from './drafts';
import hello from '../templates/hello/main.py?raw';
import params from '../templates/params/main.py?raw';
import models from '../templates/models/main.py?raw';
import todo from '../../examples/todo/main.py?raw';
import deps from '../templates/deps/main.py?raw';
import routerMain from '../templates/router/main.py?raw';
import routerUsers from '../templates/router/users.py?raw';

export interface Template {
  id: string;
  title: string;
  files: SourceFile[];
}

const main = (content: string): SourceFile[] => [{ name: 'main.py', content }];

export const TEMPLATES: Template[] = [
  { id: 'hello', title: 'Hello, world', files: main(hello) },
  { id: 'params', title: 'Path and query parameters', files: main(params) },
  { id: 'models', title: 'Pydantic models', files: main(models) },
  { id: 'todo', title: 'A todo list (CRUD)', files: main(todo) },
  { id: 'deps', title: 'Dependencies', files: main(deps) },
  {
    id: 'router',
    title: 'A router in a second file',
    files: [
      { name: 'main.py', content: routerMain },
      { name: 'users.py', content: routerUsers },
    ],
  },
  { id: 'empty', title: 'Empty main.py', files: main('from fastapi import FastAPI\n\napp = FastAPI()\n') },
];
