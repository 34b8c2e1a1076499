using LowBitQuant.Internal;

namespace LowBitQuant;

/// <summary>
/// Folds input transforms into neighbouring full-precision weights so a transformed model is still a standard checkpoint
/// (algorithms/heroq.md §5). Every helper changes its arguments in place and keeps full-precision outputs unchanged.
/// Matrices are [out, in], row-major, as in a linear layer y = W·x.
/// </summary>
public static class TransformFolding
{
    /// <summary>Folds D⁻¹ into a preceding RMSNorm weight: γ_j ← γ_j / d_j, so the norm emits D⁻¹·x (T = D, no rotation).</summary>
    /// <exception cref="ArgumentException">The lengths differ, or the transform has a rotation (a norm weight can only absorb a diagonal).</exception>
    public static void FoldScalesIntoNorm(Span<float> normWeight, InputTransform transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        RequireDiagonalOnly(transform, nameof(transform), "an RMSNorm weight");
        RequireLength(normWeight.Length, transform.Size, nameof(normWeight));
        if (!transform.ChannelScales.IsEmpty)
        {
            System.Numerics.Tensors.TensorPrimitives.Divide(normWeight, transform.ChannelScales.Span, normWeight);
        }
    }

    /// <summary>
    /// Folds D⁻¹ into the output rows of the up projection feeding silu(gate) ⊙ up (the down projection's input): row j ← row j / d_j.
    /// A rotation cannot pass through the gated product and is refused (it must be applied online).
    /// </summary>
    /// <exception cref="ArgumentException">The sizes differ, or the transform has a rotation.</exception>
    public static void FoldScalesIntoUpProjection(DenseMatrix upProjection, InputTransform transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        RequireDiagonalOnly(transform, nameof(transform), "the up projection across silu(gate) ⊙ up (SiLU and the elementwise product do not commute with a rotation; apply it online)");
        FoldIntoPrecedingLinear(upProjection, transform);
    }

    /// <summary>
    /// Folds T⁻¹ into a preceding linear whose output feeds the transformed layer directly (no nonlinearity between): P ← T⁻¹·P,
    /// so the next layer's input becomes T⁻¹·x. Valid for any T (diagonal and rotation), e.g. v_proj rows within one head.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="preceding"/> does not have <c>transform.Size</c> rows.</exception>
    public static void FoldIntoPrecedingLinear(DenseMatrix preceding, InputTransform transform)
    {
        ArgumentNullException.ThrowIfNull(transform);
        RequireLength(preceding.Rows, transform.Size, nameof(preceding));

        // T⁻¹·P = (Pᵀ·T⁻ᵀ)ᵀ: transpose, apply T⁻ᵀ on rows (what TransformActivations does), transpose back.
        var t = Transpose(preceding);
        transform.TransformActivations(t);
        TransposeInto(t, preceding.Columns, preceding.Rows, preceding.Data.Span);
    }

    /// <summary>Folds an RMSNorm weight γ into every linear reading the norm's output: W ← W·diag(γ), and sets γ to ones.</summary>
    /// <exception cref="ArgumentException">A reader's column count differs from γ's length.</exception>
    public static void FoldNormIntoReaders(Span<float> normWeight, params DenseMatrix[] readers)
    {
        foreach (var r in readers)
        {
            RequireLength(r.Columns, normWeight.Length, nameof(readers));
        }

        foreach (var r in readers)
        {
            for (int i = 0; i < r.Rows; i++)
            {
                var row = r.GetRow(i);
                System.Numerics.Tensors.TensorPrimitives.Multiply(row, normWeight, row);
            }
        }

        normWeight.Fill(1f);
    }

    /// <summary>Rotates the residual stream in the embedding table [vocab, hidden]: each row e ← e·R.</summary>
    /// <exception cref="ArgumentException">The hidden size differs from R's.</exception>
    public static void RotateEmbeddings(DenseMatrix embeddings, IRotation rotation)
    {
        ArgumentNullException.ThrowIfNull(rotation);
        RequireLength(embeddings.Columns, rotation.Size, nameof(embeddings));
        rotation.Apply(embeddings.Data.Span);
    }

    /// <summary>A linear writing into the rotated residual stream (attention output, feed-forward output): W ← Rᵀ·W.</summary>
    /// <exception cref="ArgumentException">The row count differs from R's size.</exception>
    public static void RotateResidualWriter(DenseMatrix writer, IRotation rotation)
    {
        ArgumentNullException.ThrowIfNull(rotation);
        RequireLength(writer.Rows, rotation.Size, nameof(writer));
        var t = Transpose(writer);
        rotation.Apply(t); // rows of Wᵀ times R = (Rᵀ·W)ᵀ
        TransposeInto(t, writer.Columns, writer.Rows, writer.Data.Span);
    }

    /// <summary>
    /// A linear reading the rotated residual stream through an RMSNorm whose γ was folded first (q/k/v, gate/up, the head): W ← W·R.
    /// RMS normalisation commutes with an orthogonal R, so the reader sees the same input.
    /// </summary>
    /// <exception cref="ArgumentException">The column count differs from R's size.</exception>
    public static void RotateResidualReader(DenseMatrix reader, IRotation rotation)
    {
        ArgumentNullException.ThrowIfNull(rotation);
        RequireLength(reader.Columns, rotation.Size, nameof(reader));
        rotation.Apply(reader.Data.Span);
    }

    private static void RequireDiagonalOnly(InputTransform transform, string paramName, string target)
    {
        if (transform.Rotation is not null)
        {
            ThrowHelper.ThrowArgument(paramName, $"A transform with a rotation ({transform.Rotation.Descriptor}) cannot be folded into {target}; only its diagonal part can.");
        }
    }

    private static void RequireLength(int actual, int expected, string paramName)
    {
        if (actual != expected)
        {
            ThrowHelper.ThrowArgument(paramName, $"Size {actual} does not match the transform size {expected}.");
        }
    }

    private static float[] Transpose(DenseMatrix m)
    {
        var t = new float[m.Data.Length];
        var s = m.Data.Span;
        for (int i = 0; i < m.Rows; i++)
        {
            for (int j = 0; j < m.Columns; j++)
            {
                t[(j * m.Rows) + i] = s[(i * m.Columns) + j];
            }
        }

        return t;
    }

    private static void TransposeInto(float[] t, int rows, int columns, Span<float> destination)
    {
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < columns; j++)
            {
                destination[(j * rows) + i] = t[(i * columns) + j];
            }
        }
    }
}
