namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// A safetensors file is malformed: it breaks the rule named by <see cref="Error"/>. Thrown for bad <em>files</em>
/// only; caller mistakes throw <see cref="ArgumentException"/>.
/// </summary>
public sealed class InvalidSafetensorsException : IOException
{
    /// <summary>Creates the exception; the message names the file, the tensor (when given) and the rule.</summary>
    /// <param name="error">The rule the file breaks.</param>
    /// <param name="detail">What was found, in a few words.</param>
    /// <param name="filePath">The file, when known.</param>
    /// <param name="tensorName">The tensor entry involved, when one is.</param>
    /// <param name="innerException">The underlying parser error, when there is one.</param>
    public InvalidSafetensorsException(
        SafetensorsError error, string detail, string? filePath = null, string? tensorName = null, Exception? innerException = null)
        : base(FormatMessage(error, detail, filePath, tensorName), innerException)
    {
        Error = error;
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The rule the file breaks.</summary>
    public SafetensorsError Error { get; }

    /// <summary>The malformed file, when known.</summary>
    public string? FilePath { get; }

    /// <summary>The tensor entry involved, or <see langword="null"/> when the failure is not about one tensor.</summary>
    public string? TensorName { get; }

    private static string FormatMessage(SafetensorsError error, string detail, string? filePath, string? tensorName)
    {
        string file = filePath is null ? "Invalid safetensors data" : $"Invalid safetensors file '{filePath}'";
        string tensor = tensorName is null ? string.Empty : $", tensor '{tensorName}'";
        return $"{file}{tensor}: {error}: {detail}";
    }
}
