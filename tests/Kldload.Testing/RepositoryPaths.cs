namespace Kldload.Testing;

/// <summary>Paths in the repository checkout the tests run from.</summary>
public static class RepositoryPaths
{
    /// <summary>The directory holding <c>Kldload.sln</c>, found upwards from the test binary.</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kldload.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Kldload.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
