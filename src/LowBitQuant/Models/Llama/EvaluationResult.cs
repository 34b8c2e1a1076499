namespace LowBitQuant;

/// <summary>
/// Perplexity of a model, and, when a second (quantized) model was given, how far its next-token distributions are from the
/// first's: mean KL divergence <c>KL(P_fp ‖ P_q)</c> and top-1 agreement, as llama.cpp's perplexity tool reports them.
/// </summary>
public sealed class EvaluationResult
{
    /// <summary>Number of predictions scored.</summary>
    public required long TokensScored { get; init; }

    /// <summary>Number of windows run.</summary>
    public required int Windows { get; init; }

    /// <summary>Mean negative log-likelihood (nats) of the full-precision model.</summary>
    public required double MeanNll { get; init; }

    /// <summary><c>exp(MeanNll)</c>.</summary>
    public double Perplexity => Math.Exp(MeanNll);

    /// <summary>Mean negative log-likelihood of the quantized model; null without one.</summary>
    public double? QuantizedMeanNll { get; init; }

    /// <summary><c>exp(QuantizedMeanNll)</c>; null without a quantized model.</summary>
    public double? QuantizedPerplexity => QuantizedMeanNll is { } nll ? Math.Exp(nll) : null;

    /// <summary>Mean over scored positions of <c>Σᵥ P_fp(v) · (log P_fp(v) − log P_q(v))</c> (nats); null without a quantized model.</summary>
    public double? MeanKlDivergence { get; init; }

    /// <summary>Fraction of scored positions where both models' most likely next token agree; null without a quantized model.</summary>
    public double? Top1Agreement { get; init; }

    /// <summary>Wall time of the evaluation.</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Tokens run through the full-precision model per second (window tokens, BOS included).</summary>
    public required double TokensPerSecond { get; init; }
}
