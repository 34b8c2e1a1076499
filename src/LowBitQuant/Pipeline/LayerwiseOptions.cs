using Microsoft.Extensions.Logging;

namespace LowBitQuant;

/// <summary>Options of <see cref="LayerwiseQuantizer"/>.</summary>
public sealed record LayerwiseOptions
{
    /// <summary>Creates options around the quantizer applied to every linear of every decoder block.</summary>
    public LayerwiseOptions(IQuantizer quantizer)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        Quantizer = quantizer;
    }

    /// <summary>The quantizer of every linear layer in the decoder blocks.</summary>
    public IQuantizer Quantizer { get; }

    /// <summary>
    /// True (default): inside each block, quantize [q, k, v] → [o] → [gate, up] → [down], re-running the block so later modules
    /// see the already-quantized ones, and feed the quantized block's outputs to the next block (reference GPTQ's
    /// <c>--true-sequential</c>). False: one pass with full-precision activations throughout (faster, usually worse).
    /// </summary>
    public bool TrueSequential { get; init; } = true;

    /// <summary>Calibration sequences per forward chunk (bounds the activation memory of a block).</summary>
    public int SequencesPerChunk { get; init; } = 16;

    /// <summary>
    /// A folder for durable per-layer results. When it holds results of the same model, calibration and options, finished
    /// layers are loaded instead of recomputed; results of other inputs are discarded (and the discard is reported).
    /// </summary>
    public string? ResumeDirectory { get; init; }

    /// <summary>Everything else that should invalidate resumed results when it changes (e.g. the CLI's option line).</summary>
    public string OptionsDescription { get; init; } = "";

    /// <summary>Receives one event per finished module and per finished block.</summary>
    public IProgress<LayerwiseProgress>? Progress { get; init; }

    /// <summary>Receives informational messages (fallbacks, resume decisions).</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Where kernels run; null for the CPU.</summary>
    public ComputeContext? Compute { get; init; }
}
