namespace LowBitQuant;

/// <summary>What happened to one linear layer: method, grid, calibration seen, damping, fallbacks, loss and time.</summary>
public sealed record ModuleReport
{
    /// <summary>Hugging Face module name, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public required string Module { get; init; }

    /// <summary>The method's label (from <see cref="QuantizationDiagnostics.Method"/>).</summary>
    public required string Method { get; init; }

    /// <summary>Bits per weight.</summary>
    public required int Bits { get; init; }

    /// <summary>Group size, or null for one group per row.</summary>
    public int? GroupSize { get; init; }

    /// <summary>Rows × columns.</summary>
    public required int Rows { get; init; }

    /// <summary>Input channels.</summary>
    public required int Columns { get; init; }

    /// <summary>Calibration tokens the module saw.</summary>
    public required long Tokens { get; init; }

    /// <summary>Proxy loss tr(ΔW·H·ΔWᵀ) with H = XᵀX / tokens of the module's actual inputs.</summary>
    public required double ProxyLoss { get; init; }

    /// <summary>‖ΔW·X‖ / ‖W·X‖ on the module's inputs.</summary>
    public required double RelativeOutputError { get; init; }

    /// <summary>Whether the loss used the full Hessian (false: its diagonal only).</summary>
    public required bool FullHessian { get; init; }

    /// <summary>Final damping, for methods that damp.</summary>
    public double? Damping { get; init; }

    /// <summary>A fallback that replaced the method, with its reason.</summary>
    public string? Fallback { get; init; }

    /// <summary>Seconds spent in the quantizer.</summary>
    public required double Seconds { get; init; }

    /// <summary>Whether this result was loaded from a previous run's durable state.</summary>
    public bool Resumed { get; init; }
}
