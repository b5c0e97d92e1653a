namespace Kldload.Provisioner.Storage.Postgres;

/// <summary>
/// The mesh's tables (component <c>mesh</c>), shared by <see cref="PostgresMeshAddressStore"/> and
/// <see cref="PostgresMeshRosterStore"/> as the LiteDB stores share <c>mesh_settings</c>: whichever
/// store opens first creates them.
/// <list type="bullet">
/// <item><c>mesh_settings</c>: the generated prefix (<c>prefix6</c>) and the roster epoch (<c>epoch</c>).</item>
/// <item><c>mesh_addresses</c>: one row per interface id (the 64-bit id is stored as the bigint with the
/// same bits); the IPv4 address is unique, so two provisioners can never give one address to two nodes.</item>
/// <item><c>mesh_members</c> by node id (version 2: with the hub each dials); <c>mesh_revoked</c> by public key.</item>
/// <item><c>mesh_hubs</c> (version 2): each provisioner's hub by instance id, for hub peering.</item>
/// </list>
/// </summary>
public static class PostgresMeshSchema
{
    public static readonly PostgresSchema Schema = new("mesh",
    [
        """
        CREATE TABLE mesh_settings (
            name text PRIMARY KEY,
            value text NOT NULL
        );
        CREATE TABLE mesh_addresses (
            interface_id bigint PRIMARY KEY,
            address4 bigint UNIQUE CHECK (address4 BETWEEN 0 AND 4294967295),
            node_id text NOT NULL,
            ek_sha256 text NOT NULL,
            allocated_at timestamptz NOT NULL,
            released_at timestamptz
        );
        CREATE INDEX mesh_addresses_node_id ON mesh_addresses (node_id);
        CREATE TABLE mesh_members (
            node_id text PRIMARY KEY,
            public_key bytea NOT NULL,
            key_epoch bigint NOT NULL,
            address6 inet NOT NULL,
            address4 inet,
            endpoint text,
            labels jsonb NOT NULL
        );
        CREATE TABLE mesh_revoked (
            public_key bytea PRIMARY KEY,
            node_id text NOT NULL,
            key_epoch bigint NOT NULL,
            revoked_at timestamptz NOT NULL
        );
        CREATE INDEX mesh_revoked_revoked_at ON mesh_revoked (revoked_at);
        """,
        """
        ALTER TABLE mesh_members ADD COLUMN hub text;
        CREATE TABLE mesh_hubs (
            instance_id text PRIMARY KEY,
            public_key bytea NOT NULL,
            endpoint text NOT NULL,
            seen_at timestamptz NOT NULL
        );
        """,
    ]);
}
