namespace LowBitQuant.Formats.Safetensors;

/// <summary>
/// The rule a malformed safetensors file breaks (formats/safetensors.md §3). Names follow the reference
/// implementation's error names where it has one.
/// </summary>
public enum SafetensorsError
{
    /// <summary>The file is shorter than the 8-byte header length (§3.1).</summary>
    HeaderTooSmall,

    /// <summary>The header length exceeds 100,000,000 bytes (§3.2).</summary>
    HeaderTooLarge,

    /// <summary>The header length runs past the end of the file (§3.2).</summary>
    InvalidHeaderLength,

    /// <summary>The header bytes are not valid UTF-8 (§3.3).</summary>
    InvalidHeader,

    /// <summary>The header does not start with <c>{</c> (§3.4).</summary>
    InvalidHeaderStart,

    /// <summary>The header is not one JSON object followed only by space padding (§3.4, §3.5).</summary>
    InvalidHeaderDeserialization,

    /// <summary>A key appears twice, at the top level, in <c>__metadata__</c> or inside a tensor entry (§3.6).</summary>
    DuplicateKey,

    /// <summary><c>__metadata__</c> is not an object whose values are all strings (§3.7).</summary>
    InvalidMetadata,

    /// <summary>A tensor entry is not an object with exactly <c>dtype</c>, <c>shape</c> and <c>data_offsets</c> of the right types (§3.8).</summary>
    InvalidTensorEntry,

    /// <summary>A tensor entry names a dtype the format does not define (§3.8).</summary>
    UnknownDType,

    /// <summary>The element count or bit size of a tensor overflows a 64-bit integer (§3.9).</summary>
    ValidationOverflow,

    /// <summary>The tensor's size in bits is not a whole number of bytes (§3.9; F4 and F6 types).</summary>
    MisalignedSlice,

    /// <summary>The tensor's byte range does not match its shape and dtype (§3.9).</summary>
    TensorInvalidInfo,

    /// <summary>The tensor's byte range is reversed, leaves a hole or overlaps another tensor (§3.8, §3.10).</summary>
    InvalidOffset,

    /// <summary>The tensors do not cover the data buffer exactly to the end of the file (§3.11).</summary>
    MetadataIncompleteBuffer,
}
