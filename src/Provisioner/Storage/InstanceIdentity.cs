using System.Security.Cryptography;

namespace Kldload.Provisioner.Storage;

/// <summary>
/// This instance's name among instances sharing one database: <c>{Kldload:DataDir}/instance.id</c>,
/// random, written once and kept across restarts (each instance has its own data directory). Two
/// instances on one machine are two names.
/// </summary>
public sealed class InstanceIdentity
{
    public const string FileName = "instance.id";

    private InstanceIdentity(string name) => Name = name;

    /// <summary>The host name and a random suffix, e.g. <c>rack1-prov-3f9c2a1b</c>.</summary>
    public string Name { get; }

    /// <summary>Reads the name from the data directory, creating it the first time.</summary>
    public static InstanceIdentity OpenOrCreate(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, FileName);
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } existing)
        {
            return new InstanceIdentity(existing);
        }

        var name = $"{Environment.MachineName.ToLowerInvariant()}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var temp = path + ".tmp";
        File.WriteAllText(temp, name + "\n");
        File.Move(temp, path, overwrite: false);
        return new InstanceIdentity(name);
    }
}
