"""A user lifecycle against roster's AttackForge face, through the real
pyattackforge client. Usage: attackforge_lifecycle.py BASE_URL API_KEY"""

import sys

from pyattackforge import AttackForgeClient
from pyattackforge.exceptions import APIError


def find(obj, key):
    """First value of `key` anywhere in a response, as pyattackforge's own tests do."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = find(v, key)
            if found is not None:
                return found
    if isinstance(obj, list):
        for v in obj:
            found = find(v, key)
            if found is not None:
                return found
    return None


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


base, key = sys.argv[1], sys.argv[2]
with AttackForgeClient(api_key=key, base_url=base, max_retries=0) as af:
    u = af.users
    created = u.create_user({
        "first_name": "John", "last_name": "Citizen", "username": "john.citizen@example.com",
        "email": "john.citizen@example.com", "password": "ThisIsASuperLongPassword",
        "role": "client", "mfa": "No",
    })
    user_id = find(created, "id")
    check(user_id and created["user"]["email"] == "john.citizen@example.com", "create_user")
    check(created["user"]["role"] == "client" and created["user"]["mfa"] == "No", "create-side names")

    bulk = u.create_users([
        {"first_name": "A", "last_name": "One", "username": "a.one@example.com", "email": "a.one@example.com",
         "password": "AnotherLongPassword123", "role": "consultant", "mfa": "Yes"},
        {"first_name": "B", "last_name": "Two", "username": "b.two@example.com", "email": "b.two@example.com",
         "password": "short", "role": "client", "mfa": "No"},
    ])
    check(bulk[0]["status"] == "Created" and bulk[1]["status"] == "Failed" and "password" in bulk[1]["error"],
          "create_users reports per item")

    got = u.get_user(user_id)
    check(got["user"]["email_address"] == "john.citizen@example.com", "get_user, read-side names")
    check(got["user"]["mfa_enabled"] == "No" and got["user"]["status"] == "Active", "read-side mfa and status")
    check(u.get_user_by_email("john.citizen@example.com")["user"]["id"] == user_id, "get_user_by_email (URL-encoded @)")
    check(u.get_user_by_username("john.citizen@example.com")["user"]["id"] == user_id, "get_user_by_username")
    listed = u.get_users({"firstName": "John"})
    check(listed["count"] == 1 and listed["users"][0]["id"] == user_id, "get_users filtered by firstName")

    updated = u.update_user(user_id, {"last_name": "UserUpdated"})
    check(updated["user"]["last_name"] == "UserUpdated", "update_user")
    check(u.deactivate_user(user_id)["status"] == "User Deactivated", "deactivate_user")
    check(u.get_user(user_id)["user"]["status"] == "Inactive", "deactivated user reads Inactive")
    check(u.activate_user(user_id)["status"] == "User Activated", "activate_user")

    group = af.groups.create_group({
        "name": "Red Team", "group_owner": "admin", "primary_contact_name": "Jill",
        "primary_contact_email": "jill@example.com", "primary_contact_number": "555-0100",
    })
    group_id = find(group, "id")
    check(group_id and group["status"] == "ok", "create_group")
    check(u.add_user_to_group({"group_id": group_id, "user_id": user_id, "access_level": "View"})["status"]
          == "User Added To Group", "add_user_to_group")
    groups = u.get_user_groups(user_id)
    check(groups["count"] == 1 and groups["groups"][0]["access_level"] == "View", "get_user_groups")
    check(u.update_user_access_on_group(user_id, {"group_id": group_id, "access_level": "Edit"})["status"]
          == "User Access Updated On Group", "update_user_access_on_group (user id from the path)")
    check(u.get_user_groups(user_id)["groups"][0]["access_level"] == "Edit", "access level updated")
    full = af.groups.get_group(group_id)
    check(full["group"]["members"][0]["userId"] == user_id, "get_group lists the member")
    check(any(g["group_id"] == group_id for g in af.groups.get_groups()["groups"]), "get_groups")
    logs = u.get_user_audit_logs(user_id)
    check("logs" in logs, "get_user_audit_logs")
    check("logs" in u.get_user_login_history(user_id), "get_user_login_history")

    try:
        u.get_user("5e5cbecee365f1003f3b20b8")
        check(False, "unknown id is an error")
    except APIError as e:
        check(e.status_code == 404, "unknown id is 404")

print("pyattackforge lifecycle passed")
