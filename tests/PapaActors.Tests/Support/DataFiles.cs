using System.Buffers.Binary;
using System.IO.Compression;

namespace PapaActors.Tests.Support;

/// <summary>Writes small IDX and CIFAR-binary files, so the readers are tested on real file formats.</summary>
public static class DataFiles
{
    public static byte[] Idx(int[] dimensions, byte[] data, byte type = 0x08)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)dimensions.Length };
        foreach (var dimension in dimensions)
        {
            var word = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(word, dimension);
            bytes.AddRange(word);
        }
        bytes.AddRange(data);
        return bytes.ToArray();
    }

    public static void Write(string path, byte[] bytes, bool gzip)
    {
        if (!gzip)
        {
            File.WriteAllBytes(path, bytes);
            return;
        }
        using var file = File.Create(path + ".gz");
        using var zip = new GZipStream(file, CompressionLevel.Fastest);
        zip.Write(bytes);
    }

    /// <summary>An MNIST-layout folder of <paramref name="train"/> + <paramref name="test"/> 28x28 images; pixel = label * 20 + index % 7.</summary>
    public static void WriteMnistFolder(string folder, int train, int test, bool gzip)
    {
        foreach (var (prefix, count) in new[] { ("train", train), ("t10k", test) })
        {
            var labels = Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray();
            var images = Enumerable.Range(0, count).SelectMany(i => Enumerable.Repeat((byte)(labels[i] * 20 + i % 7), 28 * 28)).ToArray();
            Write(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), Idx([count, 28, 28], images), gzip);
            Write(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), Idx([count], labels), gzip);
        }
    }

    /// <summary>A CIFAR-10 binary folder with <paramref name="perFile"/> records in each of the six files.</summary>
    public static void WriteCifar10Folder(string folder, int perFile)
    {
        var files = new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin" };
        foreach (var (name, f) in files.Select((n, f) => (n, f)))
        {
            var bytes = new List<byte>();
            for (var i = 0; i < perFile; i++)
            {
                var label = (byte)((i + f) % 10);
                bytes.Add(label);
                bytes.AddRange(Enumerable.Range(0, 3072).Select(p => (byte)(label * 25 + p % 3)));
            }
            File.WriteAllBytes(Path.Combine(folder, name), bytes.ToArray());
        }
    }

    /// <summary>
    /// A CIFAR-100 binary folder (train.bin, test.bin): record i of file f has fine label (7 i + f) mod 100, coarse
    /// label fine / 5, and pixel p = fine * 2 + p % 3.
    /// </summary>
    public static void WriteCifar100Folder(string folder, int train, int test)
    {
        foreach (var (name, count, f) in new[] { ("train.bin", train, 0), ("test.bin", test, 1) })
        {
            var bytes = new List<byte>();
            for (var i = 0; i < count; i++)
            {
                var fine = (byte)((7 * i + f) % 100);
                bytes.Add((byte)(fine / 5));
                bytes.Add(fine);
                bytes.AddRange(Enumerable.Range(0, 3072).Select(p => (byte)(fine * 2 + p % 3)));
            }
            File.WriteAllBytes(Path.Combine(folder, name), bytes.ToArray());
        }
    }
}
