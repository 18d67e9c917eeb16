using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Data;

/// <summary>What to load: a dataset by name, where its files are, and how to split, trim and normalise it.</summary>
/// <param name="ReferenceNormalization">CIFAR-10 / CIFAR-100 are normalised with the reference's fixed channel means
/// and stds (<see cref="DataSplits.ReferenceNormalization"/>); otherwise, and for every other dataset, with those of the
/// training split.</param>
public sealed record DatasetSpec(
    string Name,
    string Path,
    double HeldOutFraction,
    int Seed,
    long TrainLimit = 0,
    long TestLimit = 0,
    int SyntheticSize = 8,
    bool ReferenceNormalization = false)
{
    public static readonly string[] Names = ["fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic"];
}

/// <summary>
/// Training, held-out and test sets of one dataset, plus the per-channel normalisation: computed on the training
/// split, or given. The held-out split is carved from the training data by a permutation seeded with the run seed,
/// so every member (and every node of a cluster) sees the same held-out images. Without one (held-out fraction 0),
/// what is asked of the held-out split is done on the training split, as the reference scores its soups.
/// </summary>
public sealed class DataSplits : IDisposable
{
    public DataSplits(ImageDataset train, ImageDataset heldOut, ImageDataset test, (float[] Mean, float[] Std)? normalization = null)
    {
        Train = train;
        HeldOut = heldOut;
        Test = test;
        using var scope = NewDisposeScope();
        if (normalization is var (mean, std))
        {
            Mean = tensor(mean).view(1, -1, 1, 1).MoveToOuterDisposeScope();
            Std = tensor(std).view(1, -1, 1, 1).MoveToOuterDisposeScope();
            return;
        }
        using var minimumStd = Scalars.Of(1e-3);
        var pixels = train.Images.to_type(ScalarType.Float32).div_(PixelScale);
        Mean = pixels.mean([0L, 2L, 3L]).view(1, -1, 1, 1).MoveToOuterDisposeScope();
        Std = pixels.std([0L, 2L, 3L]).clamp_min(minimumStd).view(1, -1, 1, 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference's channel means and stds of [0, 1] pixels: data/cifar10.py (given on the 0..255 scale, divided by
    /// 255 here) and data/cifar100.py.
    /// </summary>
    public static (float[] Mean, float[] Std)? ReferenceNormalization(string dataset) => dataset switch
    {
        "cifar10" => ([125.307f / 255, 122.961f / 255, 113.8575f / 255], [51.5865f / 255, 50.847f / 255, 51.255f / 255]),
        "cifar100" => ([0.5071f, 0.4865f, 0.4409f], [0.2673f, 0.2564f, 0.2762f]),
        _ => null,
    };

    private static readonly Scalar PixelScale = 255.ToScalar();

    public ImageDataset Train { get; }
    public ImageDataset HeldOut { get; }
    public ImageDataset Test { get; }
    public Tensor Mean { get; }
    public Tensor Std { get; }
    public int Classes => Train.Classes;
    public ImageShape Shape => Train.Shape;

    public ImageDataset this[DataSplit split] => split switch
    {
        DataSplit.Train => Train,
        DataSplit.HeldOut => HeldOut.Count > 0 ? HeldOut : Train,
        DataSplit.Test => Test,
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, null),
    };

    /// <summary>Gathers rows of a split and normalises them to float on <paramref name="device"/>.</summary>
    public (Tensor Images, Tensor Labels) Batch(DataSplit split, Tensor indices, Device device)
    {
        var (images, labels) = RawBatch(split, indices, device);
        return (Normalize(images), labels);
    }

    /// <summary>Gathers rows of a split as float pixels in [0, 1] (for augmentation before normalising).</summary>
    public (Tensor Images, Tensor Labels) RawBatch(DataSplit split, Tensor indices, Device device)
    {
        var set = this[split];
        var images = set.Images.index_select(0, indices).to(device).to_type(ScalarType.Float32).div_(PixelScale);
        return (images, set.Labels.index_select(0, indices).to(device));
    }

    /// <summary>Normalises [0, 1] pixels in place with the training split's channel mean and std.</summary>
    public Tensor Normalize(Tensor images) => images.sub_(Mean.to(images.device)).div_(Std.to(images.device));

    /// <summary>Keeps the splits alive past the dispose scope they were built in.</summary>
    internal DataSplits DetachFromDisposeScope()
    {
        foreach (var tensor in new[] { Train, HeldOut, Test }.SelectMany(s => new[] { s.Images, s.Labels }).Append(Mean).Append(Std))
            tensor.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Train.Dispose();
        HeldOut.Dispose();
        Test.Dispose();
        Mean.Dispose();
        Std.Dispose();
    }
}

public enum DataSplit { Train, HeldOut, Test }
