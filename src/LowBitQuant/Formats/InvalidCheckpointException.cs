namespace LowBitQuant.Formats;

/// <summary>A model checkpoint, its configuration or its tokenizer file is malformed, inconsistent or describes an unsupported architecture.</summary>
public sealed class InvalidCheckpointException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>; the message names the file and the rule broken.</summary>
    public InvalidCheckpointException(string path, string message)
        : base($"{path}: {message}")
    {
        FilePath = path;
    }

    /// <summary>Creates the exception for <paramref name="path"/> with the error that caused it.</summary>
    public InvalidCheckpointException(string path, string message, Exception innerException)
        : base($"{path}: {message}", innerException)
    {
        FilePath = path;
    }

    /// <summary>The offending file or folder.</summary>
    public string FilePath { get; }
}
