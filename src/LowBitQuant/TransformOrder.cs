namespace LowBitQuant;

/// <summary>The order in which an <see cref="InputTransform"/> composes its diagonal scaling D and rotation R.</summary>
public enum TransformOrder
{
    /// <summary>T = D·R: scale the input channels, then rotate.</summary>
    ScaleThenRotate,

    /// <summary>T = R·D: rotate, then scale the rotated channels.</summary>
    RotateThenScale,
}
