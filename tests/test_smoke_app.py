from core.auth.models import PlatformOperator, User


async def test_tenant_home_and_platform_home(db, make_tenant, make_user, client_as, client_for):
    tenant = await make_tenant(plugins=("sample",), name="Riverside PT")
    async with await client_as(tenant, await make_user(tenant)) as client:
        response = await client.get("/")
    assert response.status_code == 200, response.text
    assert "Riverside PT" in response.text
    assert 'href="/sample/notes"' in response.text
    async with db.session() as session:
        operator = User(email=f"operator-{tenant.slug}@example.test", display_name="Operator")
        session.add(operator)
        await session.flush()
        session.add(PlatformOperator(user_id=operator.id))
        await session.commit()
    async with await client_as(None, operator) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "Tessera platform" in response.text
    # nobody else sees the platform area
    json = {"accept": "application/json"}
    async with client_for(None) as client:
        assert (await client.get("/", headers=json)).status_code == 401
    async with await client_as(None, await make_user(tenant)) as client:
        # a clinic member's session is not valid on the platform host at all
        assert (await client.get("/", headers=json)).status_code == 401
