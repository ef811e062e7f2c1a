"""The hello plugin against the real kernel: run from this folder with ``python -m pytest``."""

WELCOME = "Welcome! This greeting was added when your clinic turned on the Hello plugin."


async def test_enabling_adds_the_welcome_greeting(client_for_role):
    async with await client_for_role("front_desk") as client:
        greetings = (await client.get("/api/hello/greetings")).json()
    assert [g["text"] for g in greetings] == [WELCOME]


async def test_a_greeting_added_through_the_api_is_on_the_page(client_for_role):
    async with await client_for_role("clinician") as client:
        added = await client.post("/api/hello/greetings", json={"text": "Good morning, team"})
        assert added.status_code == 201, added.text
        page = await client.get("/hello")
    assert page.status_code == 200
    assert "Good morning, team" in page.text


async def test_an_empty_greeting_is_refused_with_the_reason(client_for_role):
    async with await client_for_role("clinician") as client:
        refused = await client.post("/api/hello/greetings", json={"text": " "})
    assert refused.status_code == 400
    assert "cannot be empty" in refused.json()["detail"]


async def test_a_role_without_the_permission_is_refused(client_for_role):
    async with await client_for_role("biller") as client:
        assert (await client.get("/api/hello/greetings")).status_code == 403


async def test_another_clinic_sees_none_of_the_greetings(client_for_role, make_tenant):
    async with await client_for_role("clinician") as client:
        await client.post("/api/hello/greetings", json={"text": "Only ours"})
    other = await make_tenant(plugins=("hello",))
    async with await client_for_role("clinician", tenant=other) as client:
        texts = [g["text"] for g in (await client.get("/api/hello/greetings")).json()]
    assert "Only ours" not in texts
