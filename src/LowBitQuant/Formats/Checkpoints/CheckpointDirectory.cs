namespace LowBitQuant.Formats.Checkpoints;

/// <summary>
/// Builds a checkpoint folder atomically: everything is written into a hidden temporary folder beside the target, which is then
/// renamed into place (an existing folder being replaced is first renamed aside and deleted only after the new one is in place).
/// </summary>
internal static class CheckpointDirectory
{
    /// <summary>Creates the temporary folder beside <paramref name="target"/> (creating the parent if needed).</summary>
    public static string CreateTemporary(string target)
    {
        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(target)}.{Path.GetRandomFileName()}.tmp");
        Directory.CreateDirectory(temp);
        return temp;
    }

    /// <summary>Whether <paramref name="path"/> is an existing folder with at least one entry.</summary>
    public static bool IsNonEmptyDirectory(string path) => Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any();

    /// <summary>Moves the finished <paramref name="temp"/> folder to <paramref name="target"/>.</summary>
    /// <exception cref="IOException">The target appeared meanwhile and may not be replaced, or a rename failed.</exception>
    public static void Commit(string temp, string target, bool overwrite)
    {
        if (Directory.Exists(target))
        {
            if (!IsNonEmptyDirectory(target))
            {
                Directory.Delete(target);
            }
            else if (!overwrite)
            {
                throw new IOException($"Output folder '{target}' was filled while the checkpoint was being written; it was not replaced.");
            }
            else
            {
                string backup = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Path.GetRandomFileName()}.old");
                Directory.Move(target, backup);
                try
                {
                    Directory.Move(temp, target);
                }
                catch
                {
                    Directory.Move(backup, target);
                    throw;
                }

                TryDelete(backup);
                return;
            }
        }

        Directory.Move(temp, target);
    }

    /// <summary>Deletes a folder tree, ignoring failures (used on the error path, where the original error matters).</summary>
    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort.
        }
    }
}
