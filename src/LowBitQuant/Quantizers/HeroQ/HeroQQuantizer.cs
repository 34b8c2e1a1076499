using System.Globalization;
using LowBitQuant.Internal;
using LowBitQuant.Quantizers;

namespace LowBitQuant;

/// <summary>
/// HeRo-Q (our reconstruction, algorithms/heroq.md §4 option A): quantizes W' = W·T in a Hessian-conditioned basis
/// T = D·R (or R·D), D = diag(h_j^(α/2)) normalised to geometric mean 1 and R a randomised Hadamard rotation, with any
/// inner quantizer seeing H_T = T⁻¹·H·T⁻ᵀ. α is chosen per layer by a gradient-free search minimising the proxy loss
/// tr(ΔW·H·ΔWᵀ) in the original basis; the identity candidate takes part, so the result is never worse than the inner
/// quantizer on that score. The result carries T: <see cref="QuantizedTensor.Dequantize(Span{float})"/> returns the original basis.
/// </summary>
public sealed class HeroQQuantizer : IQuantizer
{
    /// <summary>Relative floor on diag(H) (of its mean) before taking powers, so dead channels give finite scales.</summary>
    private const double DiagonalFloor = 1e-6;

    /// <summary>Creates the decorator.</summary>
    /// <param name="options">Search settings.</param>
    /// <param name="inner">The quantizer run in the transformed basis (RTN, GPTQ, DASH-Q, …); not another HeRo-Q.</param>
    /// <exception cref="ArgumentException">An α is not finite, there is no candidate at all, or <paramref name="inner"/> is a HeRo-Q quantizer.</exception>
    public HeroQQuantizer(HeroQOptions options, IQuantizer inner)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options.Alphas, nameof(options) + "." + nameof(options.Alphas));
        if (inner is HeroQQuantizer)
        {
            ThrowHelper.ThrowArgument(nameof(inner), "HeRo-Q cannot wrap another HeRo-Q quantizer; compose one transform instead.");
        }

        foreach (double a in options.Alphas)
        {
            if (!double.IsFinite(a))
            {
                ThrowHelper.ThrowArgument(nameof(options), $"Alpha {a} is not finite.");
            }
        }

        if (options.Alphas.Count == 0 && !options.IncludeIdentityCandidate)
        {
            ThrowHelper.ThrowArgument(nameof(options), "HeRo-Q needs at least one alpha or the identity candidate.");
        }

        if (options.LearnedSteps < 0)
        {
            ThrowHelper.ThrowArgument(nameof(options), $"LearnedSteps is {options.LearnedSteps}; it must be 0 (off) or positive.");
        }

        if (!(options.LearningRate > 0 && double.IsFinite(options.LearningRate)))
        {
            ThrowHelper.ThrowArgument(nameof(options), $"LearningRate is {options.LearningRate}; it must be positive and finite.");
        }

        if (!Enum.IsDefined(options.Order))
        {
            ThrowHelper.ThrowArgument(nameof(options), $"Unknown transform order {options.Order}.");
        }

        Options = options;
        Inner = inner;
    }

    /// <summary>The search settings.</summary>
    public HeroQOptions Options { get; }

    /// <summary>The quantizer run in the transformed basis.</summary>
    public IQuantizer Inner { get; }

    /// <inheritdoc/>
    public QuantizationScheme Scheme => Inner.Scheme;

    /// <inheritdoc/>
    /// <remarks>A full Hessian: the search scores in the original basis and the rotation mixes channels. A diagonal estimate is
    /// accepted when the inner quantizer needs no more (it is treated as H = diag(h) and noted).</remarks>
    public HessianKind RequiredHessian => HessianKind.Full;

    /// <inheritdoc/>
    public QuantizedTensor Quantize(DenseMatrix weights, HessianEstimate? hessian, ComputeContext? compute = null, CancellationToken cancellationToken = default)
    {
        QuantizerInputs.Validate(weights, hessian, HessianKind.Diagonal, "HeRo-Q");
        if (hessian!.Kind != HessianKind.Full && Inner.RequiredHessian == HessianKind.Full)
        {
            ThrowHelper.ThrowArgument(nameof(hessian), "HeRo-Q around a quantizer that needs a full Hessian needs a full Hessian, but a diagonal one was given.");
        }

        int n = weights.Columns;
        var notes = new List<string>();
        if (hessian.Kind != HessianKind.Full)
        {
            notes.Add("diagonal Hessian only: H treated as diag(h)");
        }

        IRotation? rotation = null;
        if (Options.UseRotation)
        {
            var choice = RotationFactory.Create(n, Options.Seed, Options.RotationFallback);
            rotation = choice.Rotation;
            notes.Add($"rotation: {choice.Reason}; {rotation.Descriptor}");
        }

        var h = hessian.Kind == HessianKind.Full ? hessian : DiagonalAsFull(hessian);

        // The diagonal D is built from: diag(H) for T = D·R, diag(RᵀHR) for T = R·D (heroq.md §5.1).
        float[] source = rotation is not null && Options.Order == TransformOrder.RotateThenScale
            ? ConditionHessian(h, new InputTransform([], rotation)).DiagonalArray
            : hessian.DiagonalArray;

        Candidate? best = null;
        var scores = new List<string>();
        if (Options.IncludeIdentityCandidate)
        {
            best = Evaluate(weights, hessian, h, null, double.NaN, compute, cancellationToken);
            scores.Add(Fmt($"identity={best.Score:G6}"));
        }

        foreach (double alpha in Options.Alphas)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var scales = ChannelScales(source, alpha);
            if (scales is null)
            {
                notes.Add(Fmt($"alpha={alpha} skipped: the channel scales h^(alpha/2) are not finite and positive (degenerate alpha or Hessian)"));
                continue;
            }

            if (scales.Length == 0 && rotation is null)
            {
                // T = I: the identity candidate again.
                if (Options.IncludeIdentityCandidate)
                {
                    continue;
                }

                var plain = Evaluate(weights, hessian, h, null, alpha, compute, cancellationToken);
                scores.Add(Fmt($"alpha={alpha}:{plain.Score:G6}"));
                best = Better(best, plain);
                continue;
            }

            var transform = new InputTransform(scales, rotation, Options.Order);
            var candidate = Evaluate(weights, hessian, h, transform, alpha, compute, cancellationToken);
            if (!double.IsFinite(candidate.Score))
            {
                notes.Add(Fmt($"alpha={alpha} skipped: the quantized weights in the original basis are not finite"));
                continue;
            }

            scores.Add(Fmt($"alpha={alpha}:{candidate.Score:G6}"));
            best = Better(best, candidate);
        }

        string? fallback = null;
        if (best is null)
        {
            fallback = "every HeRo-Q candidate was degenerate; the inner quantizer ran on the untransformed weights";
            best = Evaluate(weights, hessian, h, null, double.NaN, compute, cancellationToken);
        }

        if (Options.LearnedSteps > 0 && fallback is null)
        {
            best = Learn(weights, hessian, h, rotation, best, notes, compute, cancellationToken);
        }

        var q = best.Result;
        notes.Insert(0, best.Transform is null
            ? (double.IsNaN(best.Alpha) ? "chosen: identity (no transform)" : Fmt($"chosen: alpha={best.Alpha} without rotation"))
            : Fmt($"chosen: {(best.Learned ? "learned d from " : string.Empty)}alpha={best.Alpha}, order={Options.Order}, rotation={(best.Transform.Rotation is null ? "none" : "yes")}"));
        notes.Add("proxy loss per candidate: " + string.Join(", ", scores));
        var inner = q.Diagnostics;
        var diagnostics = inner with
        {
            Method = $"heroq({inner.Method})",
            Fallback = fallback ?? inner.Fallback,
            Notes = [.. inner.Notes, .. notes],
        };
        return new QuantizedTensor(q.Scheme, q.Rows, q.Columns, q.Codes.ToArray(), q.Scales.ToArray(), q.Zeros.ToArray(), q.GroupIndex.ToArray(), best.Transform, diagnostics);
    }

    /// <summary>H_T = T⁻¹·H·T⁻ᵀ (a full estimate of the same sample count), symmetrised against rounding.</summary>
    internal static HessianEstimate ConditionHessian(HessianEstimate hessian, InputTransform transform)
    {
        int n = hessian.Size;
        var m = (float[])hessian.MatrixArray.Clone();
        transform.TransformActivations(m); // rows: H·T⁻ᵀ
        Transpose(m, n);                   // T⁻¹·H (H symmetric)
        transform.TransformActivations(m); // T⁻¹·H·T⁻ᵀ
        var diag = new float[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                float s = 0.5f * (m[(i * n) + j] + m[(j * n) + i]);
                m[(i * n) + j] = m[(j * n) + i] = s;
            }

            diag[i] = m[(i * n) + i];
        }

        return HessianEstimate.CreateUnchecked(HessianKind.Full, n, hessian.SampleCount, diag, m);
    }

    /// <summary>d_j = h_j^(α/2) normalised to geometric mean 1 (in log space); empty for α = 0 (D = I); null when not finite and positive.</summary>
    internal static float[]? ChannelScales(ReadOnlySpan<float> h, double alpha)
    {
        if (alpha == 0)
        {
            return [];
        }

        double mean = 0;
        foreach (float v in h)
        {
            mean += v;
        }

        mean /= h.Length;
        if (!(mean > 0) || !double.IsFinite(mean))
        {
            return null;
        }

        double floor = Math.Max(DiagonalFloor * mean, double.Epsilon);
        var logs = new double[h.Length];
        double meanLog = 0;
        for (int j = 0; j < h.Length; j++)
        {
            logs[j] = 0.5 * alpha * Math.Log(Math.Max(h[j], floor));
            meanLog += logs[j];
        }

        meanLog /= h.Length;
        var d = new float[h.Length];
        for (int j = 0; j < d.Length; j++)
        {
            d[j] = (float)Math.Exp(logs[j] - meanLog);
            if (!(d[j] > 0) || !float.IsFinite(d[j]))
            {
                return null;
            }
        }

        return d;
    }

    /// <summary>Quantizes W in the basis of <paramref name="transform"/> (or the original one) and scores it in the original basis.</summary>
    internal (QuantizedTensor Result, double Score) QuantizeWithTransform(DenseMatrix weights, HessianEstimate hessian, InputTransform? transform, ComputeContext? compute = null, CancellationToken cancellationToken = default)
    {
        var h = hessian.Kind == HessianKind.Full ? hessian : DiagonalAsFull(hessian);
        var c = Evaluate(weights, hessian, h, transform, double.NaN, compute, cancellationToken);
        var q = c.Result;
        return (new QuantizedTensor(q.Scheme, q.Rows, q.Columns, q.Codes.ToArray(), q.Scales.ToArray(), q.Zeros.ToArray(), q.GroupIndex.ToArray(), transform, q.Diagnostics), c.Score);
    }

    private Candidate Evaluate(DenseMatrix weights, HessianEstimate original, HessianEstimate full, InputTransform? transform, double alpha, ComputeContext? compute, CancellationToken ct)
    {
        var w = transform is null ? weights : weights.Clone();
        HessianEstimate ht = full;
        if (transform is not null)
        {
            transform.TransformWeights(w.Data.Span);
            ht = ConditionHessian(full, transform);
        }

        var forInner = Inner.RequiredHessian switch
        {
            HessianKind.None => null,
            HessianKind.Diagonal => ht.ToDiagonal(),
            _ => ht,
        };
        if (transform is null && original.Kind == HessianKind.Diagonal && Inner.RequiredHessian != HessianKind.None)
        {
            forInner = original;
        }

        var q = Inner.Quantize(w, forInner, compute, ct);
        if (q.InputTransform is not null)
        {
            throw new InvalidOperationException($"The inner quantizer '{q.Diagnostics.Method}' returned its own input transform; HeRo-Q cannot compose it.");
        }

        var restored = q.Dequantize().Data.Span;
        transform?.RestoreWeights(restored);
        double score = Validation.AllFinite(restored) ? QuantizationError.ProxyLoss(weights, restored, original) : double.NaN;
        return new Candidate(q, transform, alpha, score);
    }

    /// <summary>Option B: learns log d from the search's winner and keeps it only if the real inner quantizer scores better with it.</summary>
    private Candidate Learn(DenseMatrix weights, HessianEstimate original, HessianEstimate full, IRotation? rotation, Candidate searched, List<string> notes, ComputeContext? compute, CancellationToken ct)
    {
        int n = weights.Columns;
        var start = new double[n];
        if (searched.Transform is { } t && t.ChannelScales.Length == n)
        {
            var d0 = t.ChannelScales.Span;
            for (int j = 0; j < n; j++)
            {
                start[j] = Math.Log(d0[j]);
            }
        }

        var learner = new HeroQLearner(weights, full, rotation, Options.Order, Inner.Scheme, start);
        var (logD, learnedLoss, startLoss) = learner.Optimize(start, Options.LearnedSteps, Options.LearningRate, ct);
        var d = new float[n];
        for (int j = 0; j < n; j++)
        {
            d[j] = (float)Math.Exp(logD[j]);
            if (!(d[j] > 0 && float.IsFinite(d[j])))
            {
                notes.Add(Fmt($"learned d: not finite after {Options.LearnedSteps} steps; search kept"));
                return searched;
            }
        }

        var learned = Evaluate(weights, original, full, new InputTransform(d, rotation, Options.Order), searched.Alpha, compute, ct) with { Learned = true };
        string surrogate = Fmt($"fixed-grid STE loss {startLoss:G6} -> {learnedLoss:G6} in {Options.LearnedSteps} steps at lr {Options.LearningRate}");
        if (double.IsFinite(learned.Score) && learned.Score < searched.Score)
        {
            notes.Add(Fmt($"learned d won: proxy loss {learned.Score:G6} vs search {searched.Score:G6} ({100 * ((learned.Score / searched.Score) - 1):+0.00;-0.00}%); {surrogate}"));
            return learned;
        }

        notes.Add(Fmt($"search won: learned d proxy loss {learned.Score:G6} vs search {searched.Score:G6} ({100 * ((learned.Score / searched.Score) - 1):+0.00;-0.00}%); learned d discarded; {surrogate}"));
        return searched;
    }

    private static Candidate Better(Candidate? current, Candidate next) =>
        current is null || next.Score < current.Score ? next : current;

    private static HessianEstimate DiagonalAsFull(HessianEstimate hessian)
    {
        int n = hessian.Size;
        var m = new float[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            m[((long)i * n) + i] = hessian.DiagonalArray[i];
        }

        return HessianEstimate.CreateUnchecked(HessianKind.Full, n, hessian.SampleCount, hessian.DiagonalArray, m);
    }

    private static void Transpose(float[] m, int n)
    {
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                (m[(i * n) + j], m[(j * n) + i]) = (m[(j * n) + i], m[(i * n) + j]);
            }
        }
    }

    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed record Candidate(QuantizedTensor Result, InputTransform? Transform, double Alpha, double Score)
    {
        public bool Learned { get; init; }
    }
}
