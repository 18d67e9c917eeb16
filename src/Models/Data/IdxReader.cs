using System.Buffers.Binary;
using System.IO.Compression;

namespace PapaActors.Models.Data;

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (plain or .gz). IDX is a four-byte magic
/// (two zero bytes, a type code, the number of dimensions), big-endian int32 dimensions, then the data.
/// </summary>
public static class IdxReader
{
    private const byte UnsignedByteType = 0x08;

    public sealed record IdxArray(int[] Dimensions, byte[] Data);

    /// <summary>Reads <paramref name="path"/>, or <c>path.gz</c> when only the compressed file exists.</summary>
    public static IdxArray Read(string path, int expectedDimensions)
    {
        var file = ResolvePath(path);
        try
        {
            using var raw = File.OpenRead(file);
            using Stream stream = file.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
            return Parse(stream, file, expectedDimensions);
        }
        catch (InvalidDataException e)
        {
            throw new DatasetFormatException(file, $"corrupt gzip stream ({e.Message})", e);
        }
        catch (EndOfStreamException e)
        {
            throw new DatasetFormatException(file, "truncated: the file ends inside the header", e);
        }
    }

    public static string ResolvePath(string path)
    {
        if (File.Exists(path))
            return path;
        if (File.Exists(path + ".gz"))
            return path + ".gz";
        throw new DatasetFormatException(path, "file not found (looked for it with and without .gz)");
    }

    private static IdxArray Parse(Stream stream, string file, int expectedDimensions)
    {
        Span<byte> word = stackalloc byte[4];
        stream.ReadExactly(word);
        if (word[0] != 0 || word[1] != 0)
            throw new DatasetFormatException(file, $"wrong magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(word):x8}: not an IDX file");
        if (word[2] != UnsignedByteType)
            throw new DatasetFormatException(file, $"IDX element type 0x{word[2]:x2} is not supported (expected 0x08, unsigned byte)");
        if (word[3] != expectedDimensions)
            throw new DatasetFormatException(file, $"has {word[3]} dimensions, expected {expectedDimensions}");

        var dimensions = new int[expectedDimensions];
        for (var i = 0; i < dimensions.Length; i++)
        {
            stream.ReadExactly(word);
            dimensions[i] = BinaryPrimitives.ReadInt32BigEndian(word);
            if (dimensions[i] <= 0)
                throw new DatasetFormatException(file, $"dimension {i} is {dimensions[i]}");
        }

        var length = dimensions.Aggregate(1L, (a, d) => a * d);
        var data = new byte[length];
        var read = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (read < length)
            throw new DatasetFormatException(file, $"truncated: header promises {length} data bytes, found {read}");
        if (stream.ReadByte() != -1)
            throw new DatasetFormatException(file, $"has data past the {length} bytes its header promises");
        return new IdxArray(dimensions, data);
    }
}
