using LowBitQuant.Internal;
using LowBitQuant.Quantizers;
using LowBitQuant.Quantizers.Gptq;
using Microsoft.Extensions.Logging;

namespace LowBitQuant;

/// <summary>
/// GPTQ (Frantar et al., arXiv 2210.17323): quantizes the columns of a layer one at a time and pushes each column's rounding
/// error onto the columns not yet quantized with the inverse Hessian (Optimal Brain Surgeon updates).
/// </summary>
/// <remarks>
/// Minimises ‖(W − Ŵ)X‖² = Σ_rows (w − ŵ)·H·(w − ŵ)ᵀ with every ŵ on its row's grid. With U the upper Cholesky factor of
/// (H + λI)⁻¹ (float64), column k in processing order gives e = (w_k − ŵ_k) / U_kk and the still free columns take
/// w_F −= e·U_{k,F}; updates are batched per block of <see cref="GptqOptions.BlockSize"/> columns (the lazy batch update, one GEMM
/// per block). Reference semantics, quirks and our deviations: algorithms/gptq.md. In particular, dynamic group grids are
/// fitted on fully error-updated weights (blocks are cut at group starts), not on the reference's partly updated outer copy
/// (§3.1); scales are rounded to float16 before a group's codes are computed; act-order ties keep their original order.
/// </remarks>
public sealed class GptqQuantizer : IQuantizer
{
    private readonly ILogger? _logger;

    /// <summary>Creates a GPTQ quantizer.</summary>
    /// <param name="options">The grid and solver settings.</param>
    /// <param name="logger">Receives a warning for each damping escalation and each RTN fallback; optional.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><see cref="GptqOptions.MaxDampening"/> is below <see cref="GptqOptions.Dampening"/>.</exception>
    public GptqQuantizer(GptqOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxDampening < options.Dampening)
        {
            ThrowHelper.ThrowArgument(nameof(options), $"MaxDampening ({options.MaxDampening}) is below Dampening ({options.Dampening}).");
        }

        Options = options;
        _logger = logger;
    }

    /// <summary>The options.</summary>
    public GptqOptions Options { get; }

    /// <inheritdoc/>
    public QuantizationScheme Scheme => Options.Scheme;

    /// <inheritdoc/>
    public HessianKind RequiredHessian => HessianKind.Full;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">
    /// The weights are empty or not finite; the Hessian is missing (and <see cref="GptqOptions.AllowRtnFallback"/> is off), not full,
    /// of the wrong size, or cannot be made positive definite with damping up to <see cref="GptqOptions.MaxDampening"/> (and the
    /// fallback is off). The message names the damping values tried.
    /// </exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked once per block).</exception>
    public QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default)
    {
        if (hessian is null && Options.AllowRtnFallback)
        {
            QuantizerInputs.Validate(weights, null, HessianKind.None, "GPTQ");
            return Fallback(weights, "no calibration data (no Hessian was given)");
        }

        QuantizerInputs.Validate(weights, hessian, RequiredHessian, "GPTQ");
        cancellationToken.ThrowIfCancellationRequested();
        var result = GptqSolver.Solve(weights, hessian!, Options, _logger, cancellationToken);
        if (result.Tensor is not null)
        {
            return result.Tensor;
        }

        string tried = string.Join(", ", result.DampingTried.Select(d => d.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
        string reason = $"the Hessian is not positive definite even with damping {tried} × mean(diag H)";
        if (Options.AllowRtnFallback)
        {
            return Fallback(weights, reason, result.DampingTried.Count - 1);
        }

        ThrowHelper.ThrowArgument(nameof(hessian), $"GPTQ cannot factorise the layer's Hessian: {reason} (MaxDampening {Options.MaxDampening}). " +
            "Raise MaxDampening, collect more calibration tokens, or opt in to the RTN fallback (AllowRtnFallback).");
        return null!;
    }

    private QuantizedTensor Fallback(DenseMatrix weights, string reason, int escalations = 0)
    {
        if (_logger is not null)
        {
            LoggerExtensions.LogWarning(_logger, "GPTQ falls back to RTN: {Reason}.", reason);
        }

        var rtn = new RtnQuantizer(Scheme, Options.ClipSearch).Quantize(weights, null);
        return new QuantizedTensor(Scheme, rtn.Rows, rtn.Columns, rtn.Codes.ToArray(), rtn.Scales.ToArray(), rtn.Zeros.ToArray(), diagnostics: new QuantizationDiagnostics
        {
            Method = "gptq",
            DampingEscalations = escalations,
            Fallback = $"rtn: {reason}",
        });
    }
}
