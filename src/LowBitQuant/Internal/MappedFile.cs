using System.IO.MemoryMappedFiles;

namespace LowBitQuant.Internal;

/// <summary>
/// A whole file mapped read-only, with the view's pointer acquired until <see cref="Dispose"/>: the mapping shared by the
/// memory-mapped checkpoint readers.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private bool _disposed;

    private MappedFile(MemoryMappedFile map, MemoryMappedViewAccessor view, byte* pointer, long length)
    {
        _map = map;
        _view = view;
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The first byte of the file; valid until <see cref="Dispose"/>.</summary>
    public byte* Pointer { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Opens <paramref name="path"/> for reading (others may read it too) and maps all of it.</summary>
    /// <remarks>An empty file cannot be mapped: callers check the length first.</remarks>
    public static MappedFile Open(string path) =>
        Map(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess));

    /// <summary>Maps all of <paramref name="stream"/>, which the result then owns; on failure the stream is disposed.</summary>
    public static MappedFile Map(FileStream stream)
    {
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            return new MappedFile(map, view, pointer + view.PointerOffset, length);
        }
        catch
        {
            if (acquired)
            {
                view!.SafeMemoryMappedViewHandle.ReleasePointer();
            }

            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Releases the pointer and unmaps the file. Calling it again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
