namespace LowBitQuant.Formats.DashQ;

/// <summary>A DASH-Q packed checkpoint (dashq_config.json or its tensors) breaks the format's rules (formats/dashq-packed.md).</summary>
public sealed class InvalidDashQCheckpointException : Exception
{
    /// <summary>Creates the exception.</summary>
    public InvalidDashQCheckpointException()
    {
    }

    /// <summary>Creates the exception with a message naming the file or module and the rule broken.</summary>
    public InvalidDashQCheckpointException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public InvalidDashQCheckpointException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
