using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Data;

/// <summary>
/// Images as uint8 [N, C, H, W] with int64 labels [N], held on the CPU and shared read-only by every
/// member of a process (batches are gathered and normalised on demand, so a dataset costs one byte a pixel).
/// </summary>
public sealed class ImageDataset : IDisposable
{
    public ImageDataset(string name, Tensor images, Tensor labels, int classes)
    {
        if (images.dtype != ScalarType.Byte || images.ndim != 4)
            throw new ArgumentException($"{name}: images must be uint8 [N, C, H, W], got {images.dtype} [{string.Join(", ", images.shape)}]");
        if (labels.dtype != ScalarType.Int64 || labels.ndim != 1 || labels.shape[0] != images.shape[0])
            throw new ArgumentException($"{name}: labels must be int64 [N] with N = {images.shape[0]}");
        Name = name;
        Images = images;
        Labels = labels;
        Classes = classes;
    }

    public string Name { get; }
    public Tensor Images { get; }
    public Tensor Labels { get; }
    public int Classes { get; }
    public long Count => Images.shape[0];
    public ImageShape Shape => new((int)Images.shape[1], (int)Images.shape[2], (int)Images.shape[3]);

    /// <summary>The rows at <paramref name="indices"/> as a new dataset (a copy, so the source may be disposed).</summary>
    public ImageDataset Select(Tensor indices, string name) =>
        new(name, Images.index_select(0, indices), Labels.index_select(0, indices), Classes);

    /// <summary>The first <paramref name="count"/> rows, or the whole set when count is 0 or larger than it.</summary>
    public ImageDataset Take(long count, string name)
    {
        if (count <= 0 || count >= Count)
            return Select(Scalars.Arange(0, Count), name);
        return Select(Scalars.Arange(0, count), name);
    }

    public int[] LabelArray() => Labels.to_type(ScalarType.Int32).data<int>().ToArray();

    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}

public readonly record struct ImageShape(int Channels, int Height, int Width)
{
    public int Pixels => Channels * Height * Width;
    public override string ToString() => $"{Channels}x{Height}x{Width}";
}
