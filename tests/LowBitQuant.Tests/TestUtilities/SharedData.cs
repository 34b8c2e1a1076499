namespace LowBitQuant.Tests.TestUtilities;

/// <summary>
/// Locates the shared test data (real model, corpora) beside the repository: <c>LOWBITQUANT_SHARED</c>, else <c>../shared</c>
/// from the repository root. Missing data skips a test locally and fails it under CI (<c>CI=true</c>).
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string?> Root = new(Locate);

    /// <summary>The shared folder, or null when absent.</summary>
    public static string? Directory => Root.Value;

    /// <summary>A path inside the shared folder; skips (or fails under CI) when the folder or the path is missing.</summary>
    public static string Require(string relativePath)
    {
        string? root = Root.Value;
        string? path = root is null ? null : Path.Combine(root, relativePath);
        if (path is not null && (File.Exists(path) || System.IO.Directory.Exists(path)))
        {
            return path;
        }

        string message = $"Shared test data '{relativePath}' not found (set LOWBITQUANT_SHARED or place 'shared' beside the repository).";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message);
        }

        Skip.If(true, message);
        return path!;
    }

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("LOWBITQUANT_SHARED");
        if (!string.IsNullOrEmpty(env))
        {
            return System.IO.Directory.Exists(env) ? Path.GetFullPath(env) : null;
        }

        // Walk up from the test binaries to the repository root (the folder holding LowBitQuant.sln).
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LowBitQuant.sln")))
            {
                string candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
                return System.IO.Directory.Exists(candidate) ? candidate : null;
            }
        }

        return null;
    }
}
