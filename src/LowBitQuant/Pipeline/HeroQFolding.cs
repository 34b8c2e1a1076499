using System.Globalization;
using Microsoft.Extensions.Logging;

namespace LowBitQuant;

/// <summary>
/// HeRo-Q inside the layer-by-layer pipeline, with every transform folded into neighbouring full-precision weights so the
/// quantized model stays a standard checkpoint (algorithms/heroq.md §5, §5.2):
/// <list type="bullet">
/// <item>the single residual-stream rotation R₁ (when <see cref="HeroQOptions.UseRotation"/>): every norm weight folded into
/// its readers, readers W ← W·R₁, writers W ← R₁ᵀ·W, embeddings E ← E·R₁, and the (untied) head;</item>
/// <item>per block, a diagonal D per shared input chosen on the block's full-precision statistics: q/k/v and gate/up fold 1/d into
/// their norm weight, o_proj folds D (identical for query heads sharing a key/value head) and optionally a per-head Hadamard
/// rotation into v_proj's rows, down_proj folds D into up_proj's rows.</item>
/// </list>
/// down_proj's rotation needs an online transform (SiLU and the gated product do not commute with it) and is not used.
/// The inner quantizer then runs on the folded weights, whose calibration inputs are already in the transformed basis.
/// </summary>
internal sealed class HeroQFolding
{
    private readonly LlamaModel _model;
    private readonly HeroQQuantizer _heroq;
    private readonly LlamaWeightOverlay _weights;
    private readonly HeadwiseRotation? _headRotation;

    public HeroQFolding(LlamaModel model, HeroQQuantizer heroq, ILogger? logger)
    {
        _model = model;
        _heroq = heroq;
        _weights = new LlamaWeightOverlay(model.Source);
        var c = model.Config;
        if (heroq.Options.LearnedSteps > 0)
        {
            logger?.LogWarning("HeRo-Q: LearnedSteps = {Steps} is not used by the layer-by-layer pipeline (learned per-module scales cannot be shared by the modules a fold serves); the alpha search is", heroq.Options.LearnedSteps);
        }

        if (heroq.Options.UseRotation)
        {
            var o = heroq.Options;
            Residual = TryRotation(c.Dim, o.Seed, o.RotationFallback, "residual stream", logger);
            if (TryRotation(c.HeadDim, o.Seed + 1, o.RotationFallback, "attention head", logger) is { } head)
            {
                _headRotation = new HeadwiseRotation(head, c.Heads);
            }
        }
    }

    /// <summary>R₁, or null when rotation is off or no rotation of the model width exists.</summary>
    public IRotation? Residual { get; }

    /// <summary>Whether and why R₁ was kept or rejected (set by the pipeline), or null before that decision.</summary>
    public string? ResidualNote { get; set; }

    /// <summary>The full-precision weights the modules are quantized from (the source with the folds applied).</summary>
    public ILlamaWeightSource Weights => _weights;

    /// <summary>The quantizer run on the folded weights.</summary>
    public IQuantizer Inner => _heroq.Inner;

    /// <summary>Folds R₁ into the whole model (once, before the embeddings are taken); a no-op without R₁.</summary>
    public void RotateResidual()
    {
        if (Residual is not { } r)
        {
            return;
        }

        var c = _model.Config;
        for (int layer = 0; layer < c.Layers; layer++)
        {
            var m = ReadLinears(layer);
            RotateReaders(LlamaTensor.AttentionNorm, layer, r, m[LlamaTensor.QueryProjection], m[LlamaTensor.KeyProjection], m[LlamaTensor.ValueProjection]);
            TransformFolding.RotateResidualWriter(m[LlamaTensor.OutputProjection], r);
            RotateReaders(LlamaTensor.FeedForwardNorm, layer, r, m[LlamaTensor.GateProjection], m[LlamaTensor.UpProjection]);
            TransformFolding.RotateResidualWriter(m[LlamaTensor.DownProjection], r);
            foreach (var (t, w) in m)
            {
                Set(t, layer, w.Data.ToArray());
            }
        }

        var head = Matrix(LlamaTensor.OutputHead, 0); // a tied model's head is its embedding table, read before that is rotated
        var embedding = Matrix(LlamaTensor.TokenEmbedding, 0);
        TransformFolding.RotateEmbeddings(embedding, r);
        Set(LlamaTensor.TokenEmbedding, 0, embedding.Data.ToArray());
        RotateReaders(LlamaTensor.FinalNorm, 0, r, head);
        Set(LlamaTensor.OutputHead, 0, head.Data.ToArray());
    }

    /// <summary>
    /// Scores one block without and with R₁ on its full-precision inputs (unrotated model): the inner quantizer's proxy loss summed
    /// over the residual readers (q/k/v, gate/up, seeing W·diag(γ)·R₁ and the normalised input rotated) and writers (o_proj,
    /// down_proj, R₁ᵀ·W). R₁ is kept only when the sum over all blocks is lower with it, so HeRo-Q's identity candidate also
    /// covers the one transform shared by the whole model.
    /// </summary>
    public (double Plain, double Rotated) ScoreResidual(int layer, IReadOnlyDictionary<int, HessianEstimate> inputs, ComputeContext? compute, CancellationToken ct)
    {
        var r = Residual ?? throw new InvalidOperationException("No residual rotation to score.");
        double plain = 0, rotated = 0;
        double Score(DenseMatrix w, HessianEstimate h) => _heroq.QuantizeWithTransform(w, h, null, compute, ct).Score;
        foreach (var (norm, input, readers) in new[]
        {
            (LlamaTensor.AttentionNorm, 0, new[] { LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection }),
            (LlamaTensor.FeedForwardNorm, 2, new[] { LlamaTensor.GateProjection, LlamaTensor.UpProjection }),
        })
        {
            var h = inputs[input];
            float[] gamma = _model.GetWeights(norm, layer);
            if (Array.IndexOf(gamma, 0f) >= 0)
            {
                return (0, double.PositiveInfinity); // a zero norm weight hides its channel's statistics: keep the model unrotated
            }

            var rotatedH = HeroQQuantizer.ConditionHessian(Unscale(h, gamma), new InputTransform([], r));
            foreach (var t in readers)
            {
                var w = Matrix(t, layer);
                plain += Score(w, h);
                TransformFolding.FoldNormIntoReaders((float[])gamma.Clone(), w);
                TransformFolding.RotateResidualReader(w, r);
                rotated += Score(w, rotatedH);
            }
        }

        foreach (var (writer, input) in new[] { (LlamaTensor.OutputProjection, 1), (LlamaTensor.DownProjection, 3) })
        {
            var w = Matrix(writer, layer);
            plain += Score(w, inputs[input]);
            TransformFolding.RotateResidualWriter(w, r);
            rotated += Score(w, inputs[input]);
        }

        return (plain, rotated);
    }

    /// <summary>The statistics of x from those of x ⊙ γ: H_ij / (γ_i γ_j).</summary>
    private static HessianEstimate Unscale(HessianEstimate h, float[] gamma)
    {
        int n = h.Size;
        var m = (float[])h.MatrixArray.Clone();
        var diag = new float[n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                m[(i * n) + j] /= gamma[i] * gamma[j];
            }

            diag[i] = m[(i * n) + i];
        }

        return HessianEstimate.CreateUnchecked(HessianKind.Full, n, h.SampleCount, diag, m);
    }

    /// <summary>
    /// Chooses the block's transforms from its full-precision input statistics (index as the pipeline's inputs: 0 attention norm,
    /// 1 attention output, 2 feed-forward norm, 3 gated product), scoring each candidate by the inner quantizer's proxy loss
    /// tr(ΔW·H·ΔWᵀ) summed over the linears sharing the input; the identity always takes part.
    /// </summary>
    public BlockFold Choose(int layer, IReadOnlyDictionary<int, HessianEstimate> inputs, ComputeContext? compute, CancellationToken ct)
    {
        var c = _model.Config;
        var notes = new List<string>(ResidualNote is null ? [] : [ResidualNote]);
        float[] attention = ChooseScales(layer, [LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection], inputs[0], "q/k/v", notes, compute, ct);
        float[] feedForward = ChooseScales(layer, [LlamaTensor.GateProjection, LlamaTensor.UpProjection], inputs[2], "gate/up", notes, compute, ct);
        float[] down = ChooseScales(layer, [LlamaTensor.DownProjection], inputs[3], "down", notes, compute, ct);

        // o_proj: D from diag(H) averaged over the query heads sharing each key/value head, with and without the per-head rotation.
        var h = inputs[1];
        var shared = SharedHeadDiagonal(h.Diagonal.Span, c);
        var candidates =
            from alpha in _heroq.Options.Alphas.Prepend(0).Distinct()
            let d = HeroQQuantizer.ChannelScales(shared, alpha)
            where d is not null
            from rotated in _headRotation is null ? new[] { false } : new[] { false, true }
            where d.Length > 0 || rotated // not the identity again
            select (Fmt($"alpha={alpha}{(rotated ? "+head-rotation" : "")}"), d, rotated);
        var (output, outputRotation) = Pick(
            "o_proj", [Matrix(LlamaTensor.OutputProjection, layer)], h, candidates, (d, rotated) => OutputTransform(d, rotated, c.Heads), notes, compute, ct);
        return new BlockFold(attention, output, outputRotation, feedForward, down, string.Join("; ", notes));
    }

    /// <summary>Folds a block's transforms into its weights (model and <see cref="Weights"/>); used for fresh and resumed blocks alike.</summary>
    public void Apply(int layer, BlockFold fold)
    {
        var c = _model.Config;
        var m = ReadLinears(layer);
        var changed = new HashSet<LlamaTensor>();
        ScaleReaders(layer, LlamaTensor.AttentionNorm, fold.Attention, m, changed, LlamaTensor.QueryProjection, LlamaTensor.KeyProjection, LlamaTensor.ValueProjection);
        ScaleReaders(layer, LlamaTensor.FeedForwardNorm, fold.FeedForward, m, changed, LlamaTensor.GateProjection, LlamaTensor.UpProjection);
        if (fold.Output.Length > 0 || fold.OutputRotation)
        {
            OutputTransform(fold.Output, fold.OutputRotation, c.Heads).TransformWeights(m[LlamaTensor.OutputProjection].Data.Span);
            TransformFolding.FoldIntoPrecedingLinear(m[LlamaTensor.ValueProjection], OutputTransform(fold.Output, fold.OutputRotation, c.KvHeads));
            changed.UnionWith([LlamaTensor.OutputProjection, LlamaTensor.ValueProjection]);
        }

        if (fold.Down.Length > 0)
        {
            var t = new InputTransform(fold.Down, null);
            t.TransformWeights(m[LlamaTensor.DownProjection].Data.Span);
            TransformFolding.FoldScalesIntoUpProjection(m[LlamaTensor.UpProjection], t);
            changed.UnionWith([LlamaTensor.DownProjection, LlamaTensor.UpProjection]);
        }

        foreach (var t in changed)
        {
            Set(t, layer, m[t].Data.ToArray());
        }
    }

    /// <summary>d over the query space for o_proj's input, or over the key/value space for v_proj's rows: the same per kv head.</summary>
    private InputTransform OutputTransform(float[] kvScales, bool rotated, int heads)
    {
        var c = _model.Config;
        float[] scales = kvScales;
        if (kvScales.Length > 0 && heads != c.KvHeads)
        {
            int group = c.Heads / c.KvHeads;
            scales = new float[heads * c.HeadDim];
            for (int head = 0; head < heads; head++)
            {
                kvScales.AsSpan(head / group * c.HeadDim, c.HeadDim).CopyTo(scales.AsSpan(head * c.HeadDim));
            }
        }

        return new InputTransform(scales, rotated ? _headRotation!.WithHeads(heads) : null);
    }

    /// <summary>diag(H) of the attention output (query space) averaged over the query heads sharing each key/value head.</summary>
    private static float[] SharedHeadDiagonal(ReadOnlySpan<float> diagonal, LlamaConfig c)
    {
        int group = c.Heads / c.KvHeads;
        var shared = new float[c.KvDim];
        for (int head = 0; head < c.Heads; head++)
        {
            for (int i = 0; i < c.HeadDim; i++)
            {
                shared[(head / group * c.HeadDim) + i] += diagonal[(head * c.HeadDim) + i] / group;
            }
        }

        return shared;
    }

    /// <summary>The diagonal, from HeRo-Q's α grid, that gives the lowest summed proxy loss of the linears sharing an input.</summary>
    private float[] ChooseScales(int layer, LlamaTensor[] members, HessianEstimate h, string label, List<string> notes, ComputeContext? compute, CancellationToken ct)
    {
        var candidates =
            from alpha in _heroq.Options.Alphas
            let d = HeroQQuantizer.ChannelScales(h.Diagonal.Span, alpha)
            where d is { Length: > 0 }
            select (Fmt($"alpha={alpha}"), d, false);
        return Pick(label, members.Select(t => Matrix(t, layer)).ToArray(), h, candidates, (d, _) => new InputTransform(d, null), notes, compute, ct).Scales;
    }

    /// <summary>
    /// Scores the identity and every candidate by the inner quantizer's proxy loss summed over <paramref name="weights"/>, notes
    /// every score, and returns the best candidate (empty scales and no rotation for the identity).
    /// </summary>
    private (float[] Scales, bool Rotated) Pick(
        string label,
        DenseMatrix[] weights,
        HessianEstimate h,
        IEnumerable<(string Label, float[] Scales, bool Rotated)> candidates,
        Func<float[], bool, InputTransform> transform,
        List<string> notes,
        ComputeContext? compute,
        CancellationToken ct)
    {
        double Score(InputTransform? t) => weights.Sum(w => _heroq.QuantizeWithTransform(w, h, t, compute, ct).Score);
        (string Label, float[] Scales, bool Rotated, double Score) best = ("identity", [], false, Score(null));
        var scores = new List<string> { Fmt($"identity={best.Score:G6}") };
        foreach (var (name, scales, rotated) in candidates)
        {
            ct.ThrowIfCancellationRequested();
            double score = Score(transform(scales, rotated));
            scores.Add(Fmt($"{name}={score:G6}"));
            if (score < best.Score)
            {
                best = (name, scales, rotated, score);
            }
        }

        notes.Add($"{label}: {best.Label} ({string.Join(", ", scores)})");
        return (best.Scales, best.Rotated);
    }

    private void ScaleReaders(int layer, LlamaTensor norm, float[] scales, Dictionary<LlamaTensor, DenseMatrix> m, HashSet<LlamaTensor> changed, params LlamaTensor[] readers)
    {
        if (scales.Length == 0)
        {
            return;
        }

        var t = new InputTransform(scales, null);
        foreach (var r in readers)
        {
            t.TransformWeights(m[r].Data.Span);
            changed.Add(r);
        }

        float[] gamma = _model.GetWeights(norm, layer);
        TransformFolding.FoldScalesIntoNorm(gamma, t);
        Set(norm, layer, gamma);
    }

    private void RotateReaders(LlamaTensor norm, int layer, IRotation r, params DenseMatrix[] readers)
    {
        float[] gamma = _model.GetWeights(norm, layer);
        TransformFolding.FoldNormIntoReaders(gamma, readers);
        foreach (var w in readers)
        {
            TransformFolding.RotateResidualReader(w, r);
        }

        Set(norm, layer, gamma);
    }

    private Dictionary<LlamaTensor, DenseMatrix> ReadLinears(int layer) =>
        LlamaConfig.LinearTensors.ToDictionary(t => t, t => Matrix(t, layer));

    private DenseMatrix Matrix(LlamaTensor tensor, int layer)
    {
        (int rows, int columns) = _model.Config.GetShape(tensor);
        return new DenseMatrix(_model.GetWeights(tensor, layer), rows, columns);
    }

    private void Set(LlamaTensor tensor, int layer, float[] data)
    {
        _model.ReplaceWeights(tensor, layer, data);
        _weights.Set(tensor, layer, data);
    }

    private static IRotation? TryRotation(int size, int seed, RotationFallback fallback, string what, ILogger? logger)
    {
        try
        {
            var choice = RotationFactory.Create(size, seed, fallback);
            logger?.LogInformation("HeRo-Q {What} rotation: {Reason}", what, choice.Reason);
            return choice.Rotation;
        }
        catch (NotSupportedException ex)
        {
            logger?.LogWarning("HeRo-Q: the {What} is not rotated: {Reason}", what, ex.Message);
            return null;
        }
    }

    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}

/// <summary>One block's folded HeRo-Q transforms (empty scales for D = I): q/k/v, o_proj (key/value space), gate/up, down_proj.</summary>
internal sealed record BlockFold(float[] Attention, float[] Output, bool OutputRotation, float[] FeedForward, float[] Down, string Summary);
