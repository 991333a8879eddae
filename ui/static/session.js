// session: who is signed in, and what the UI should offer them. The server enforces every
// permission; this only hides controls a person could not use.
import { api, setCsrfToken } from "./api.js";

let current = null;

export async function loadSession() {
  try {
    current = await api("GET", "/session");
    setCsrfToken(current.csrf_token);
  } catch (err) {
    current = null;
    if (err.status !== 401) throw err;
  }
  return current;
}

export function session() {
  return current;
}

export function clearSession() {
  current = null;
  setCsrfToken("");
}

export async function signIn(login, password) {
  current = await api("POST", "/session", { login, password });
  setCsrfToken(current.csrf_token);
  return current;
}

export async function signOut() {
  try {
    await api("DELETE", "/session");
  } finally {
    clearSession();
  }
}

export function isAdmin() {
  return !!current?.user?.is_admin;
}

export function roleIn(projectId) {
  if (isAdmin()) return "admin";
  return current?.roles?.find((r) => r.project_id === projectId)?.role || "";
}

// can mirrors the server's policy table (auth/policy.go) for showing and hiding controls.
const grants = {
  admin: ["project.read", "generate", "judge", "prompt.write", "knowledge.write", "project.manage", "export"],
  reviewer: ["project.read", "generate", "judge", "export"],
  expert: ["project.read", "generate", "judge", "knowledge.write"],
  trainer: ["project.read", "generate", "judge"],
  viewer: ["project.read"],
};

export function can(projectId, permission) {
  return (grants[roleIn(projectId)] || []).includes(permission);
}
